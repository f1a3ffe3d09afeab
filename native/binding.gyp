{
  "targets": [
    {
      "target_name": "toa_peer",
      "sources": ["toa_peer.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
