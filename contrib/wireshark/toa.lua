-- toa.lua: a Wireshark/tshark postdissector that decodes the TOA TCP option (the client
-- ip:port a FullNAT load balancer writes into the segments it forwards).
--
-- Wireshark shows kinds 253/254 only as "Experimental" and may read the port as an RFC 6994
-- ExID or a Fast Open cookie. This walks the TCP option bytes itself, with the rules of
-- test/vectors/README.md (the same as src/wire's parseToa and kmod's parser): the whole block
-- up to EOL, a malformed option or a second TOA anywhere is an error, never a guess.
--
--   tshark -r capture.pcap -X lua_script:contrib/wireshark/toa.lua \
--     -T fields -e frame.number -e toa.format -e toa.client -e toa.port -e toa.error
--   Accepted formats (default 254/8,254/20): -o toa.formats:254/8,254/20,200/8
--   Wireshark: copy to ~/.local/lib/wireshark/plugins/ (or Help > About > Folders).

local toa = Proto("toa", "TCP Option Address (TOA)")

-- The formats table of test/vectors/README.md, in its bit order.
local FORMATS = {
  { name = "254/8", kind = 254, len = 8, layout = "port-addr" },
  { name = "254/20", kind = 254, len = 20, layout = "port-addr" },
  { name = "253/20", kind = 253, len = 20, layout = "port-addr" },
  { name = "200/8", kind = 200, len = 8, layout = "port-addr" },
  { name = "252/8", kind = 252, len = 8, layout = "port-addr" },
  { name = "253/8", kind = 253, len = 8, layout = "port-addr" },
  { name = "28/7", kind = 28, len = 7, layout = "version-addr" },
  { name = "28/19", kind = 28, len = 19, layout = "version-addr" },
  { name = "254/16", kind = 254, len = 16, layout = "port-addr-vip" },
  { name = "253/hostid", kind = 253, len = nil, layout = "hostid" },
  { name = "254/hostid", kind = 254, len = nil, layout = "hostid" },
}
local DEFAULT_FORMATS = "254/8,254/20"
local HOSTID_EXID = 0x0348
local KIND28_VERSION = 1
local USER_TIMEOUT = 28
local MAX_OPTIONS_LEN = 40

toa.prefs.formats = Pref.string(
  "Accepted formats",
  DEFAULT_FORMATS,
  "Comma-separated TOA formats to decode (kind/len): "
    .. "254/8, 254/20, 253/20, 200/8, 252/8, 253/8, 28/7, 28/19, 254/16, 253/hostid, 254/hostid"
)

local f = {
  kind = ProtoField.uint8("toa.kind", "Kind"),
  len = ProtoField.uint8("toa.len", "Length"),
  format = ProtoField.string("toa.format", "Format"),
  client = ProtoField.string("toa.client", "Client address"),
  port = ProtoField.uint16("toa.port", "Client port"),
  vip = ProtoField.string("toa.vip", "VIP address"),
  vport = ProtoField.uint16("toa.vport", "VIP port"),
  offset = ProtoField.uint8("toa.offset", "Offset in the option block"),
  error = ProtoField.string("toa.error", "Error"),
}
toa.fields = { f.kind, f.len, f.format, f.client, f.port, f.vip, f.vport, f.offset, f.error }

local e_malformed = ProtoExpert.new("toa.malformed", "Malformed TOA", expert.group.MALFORMED, expert.severity.WARN)
toa.experts = { e_malformed }

local tcp_srcport = Field.new("tcp.srcport")
local tcp_hdr_len = Field.new("tcp.hdr_len")

-- claims[kind] = { hostid = format or nil, by_len = { [len] = format } } for the accepted set.
local claims = {}

local function accept(list)
  claims = {}
  for name in string.gmatch(list, "[^,%s]+") do
    for _, fmt in ipairs(FORMATS) do
      if fmt.name == name then
        local c = claims[fmt.kind] or { by_len = {} }
        claims[fmt.kind] = c
        if fmt.len == nil then c.hostid = fmt else c.by_len[fmt.len] = fmt end
      end
    end
  end
end
accept(DEFAULT_FORMATS)

function toa.prefs_changed()
  accept(toa.prefs.formats)
end

local function ipv4_text(b, at)
  return string.format("%d.%d.%d.%d", b:get_index(at), b:get_index(at + 1), b:get_index(at + 2), b:get_index(at + 3))
end

-- RFC 5952, and the dotted tails inet_ntop prints (::ffff:a.b.c.d, ::a.b.c.d): the text Node
-- shows for a socket address, so it compares equal to what toa inspect prints.
local function ipv6_text(b, at)
  local w = {}
  for i = 0, 7 do w[i] = b:get_index(at + 2 * i) * 256 + b:get_index(at + 2 * i + 1) end
  local best, best_len, i = -1, 0, 0
  while i < 8 do
    if w[i] ~= 0 then
      i = i + 1
    else
      local j = i
      while j < 8 and w[j] == 0 do j = j + 1 end
      if j - i > best_len then best, best_len = i, j - i end
      i = j
    end
  end
  if best_len < 2 then best = -1 end
  local dotted = best == 0 and (best_len == 6 or (best_len == 5 and w[5] == 0xffff))
  local text = ""
  i = 0
  while i < 8 do
    if i == best then
      text = text .. (i == 0 and "::" or ":")
      i = i + best_len
    elseif i == 6 and dotted then
      return text .. ipv4_text(b, at + 12)
    else
      text = text .. string.format("%x", w[i])
      if i < 7 then text = text .. ":" end
      i = i + 1
    end
  end
  return text
end

local function addr_text(b, at, n)
  if n == 4 then return ipv4_text(b, at) end
  return ipv6_text(b, at)
end

local function u16(b, at)
  return b:get_index(at) * 256 + b:get_index(at + 1)
end

local function found(fmt, at, len, addr, addr_len, port)
  return { format = fmt, at = at, len = len, addr = addr, addr_len = addr_len, port = port }
end

-- The option of `len` bytes at `at`, of a kind an accepted format claims: a TOA, a reason
-- string, or nil (a kind 28 option of a length no accepted format has: IANA's User Timeout).
local function decode_claimed(b, at, len, claim)
  if claim.hostid and len >= 4 and u16(b, at + 2) == HOSTID_EXID then
    local id_len = len - 4
    if id_len ~= 4 and id_len ~= 16 then return "hostid-len" end
    return found(claim.hostid, at, len, at + 4, id_len, nil)
  end
  local fmt = claim.by_len[len]
  if not fmt then
    if b:get_index(at) == USER_TIMEOUT then return nil end
    return "toa-len"
  end
  if fmt.layout == "port-addr" then return found(fmt, at, len, at + 4, len - 4, u16(b, at + 2)) end
  if fmt.layout == "version-addr" then
    if b:get_index(at + 2) ~= KIND28_VERSION then return "toa-version" end
    return found(fmt, at, len, at + 3, len - 3, nil)
  end
  local t = found(fmt, at, len, at + 4, 4, u16(b, at + 2)) -- port-addr-vip
  t.vip, t.vport = at + 12, u16(b, at + 10)
  return t
end

-- Walks a whole option block: returns the TOA, or nil, or (nil, reason, offset).
local function walk(b)
  local n = b:len()
  if n > MAX_OPTIONS_LEN then return nil, "too-long", MAX_OPTIONS_LEN end
  local result
  local at = 0
  while at < n do
    local kind = b:get_index(at)
    if kind == 0 then break end -- EOL: what follows is not options
    local len = 1
    if kind ~= 1 then
      -- The hazards: no length byte, a length that runs past the block, lengths 0 and 1.
      if at + 1 >= n then return nil, "opt-trunc", at end
      len = b:get_index(at + 1)
      if len < 2 then return nil, "opt-len", at end
      if at + len > n then return nil, "opt-trunc", at end
      local claim = claims[kind]
      if claim then
        local r = decode_claimed(b, at, len, claim)
        if type(r) == "string" then return nil, r, at end
        if r then
          if result then return nil, "toa-dup", at end
          result = r
        end
      end
    end
    at = at + len
  end
  return result
end

function toa.dissector(tvb, pinfo, tree)
  local ports = { tcp_srcport() }
  local lens = { tcp_hdr_len() }
  if #ports == 0 or #lens == 0 then return end
  -- The first TCP header (not one quoted inside an ICMP error further on).
  local ttvb = ports[1].source -- the data source holding TCP (the frame, or a reassembled one)
  local start = ports[1].offset + 20
  local opt_len = lens[1].value - 20
  if opt_len <= 0 or start + opt_len > ttvb:len() then return end -- no options, or cut by the snaplen
  local block = ttvb:range(start, opt_len)
  local b = block:bytes()
  local t, reason, at = walk(b)
  if reason then
    local item = tree:add(toa, block:range(at, opt_len - at), "TOA: malformed (" .. reason .. ")")
    item:add(f.error, block:range(at, 1), reason)
    item:add(f.offset, block:range(at, 1), at)
    item:add_proto_expert_info(e_malformed, reason .. " at option offset " .. at)
    return
  end
  if not t then return end
  local client = addr_text(b, t.addr, t.addr_len)
  local summary = t.addr_len == 16 and ("[" .. client .. "]") or client
  if t.port then summary = summary .. ":" .. t.port end
  local item = tree:add(toa, block:range(t.at, t.len), "TOA: client " .. summary .. " (" .. t.format.name .. ")")
  item:add(f.kind, block:range(t.at, 1))
  item:add(f.len, block:range(t.at + 1, 1))
  item:add(f.format, block:range(t.at, t.len), t.format.name)
  item:add(f.offset, block:range(t.at, 1), t.at)
  item:add(f.client, block:range(t.addr, t.addr_len), client)
  if t.port then item:add(f.port, block:range(t.at + 2, 2)) end
  if t.vip then
    item:add(f.vport, block:range(t.at + 10, 2))
    item:add(f.vip, block:range(t.vip, 4), ipv4_text(b, t.vip))
  end
  pinfo.cols.info:append(" [TOA " .. summary .. "]")
end

register_postdissector(toa)
