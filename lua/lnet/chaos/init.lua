-- lnet.chaos: fault injection for scripts and specs. chaos.proxy{...} (a
-- TCP proxy with Toxiproxy's toxics and more), chaos.udp_proxy{...} (a UDP
-- relay that loses, duplicates, reorders, delays and damages datagrams),
-- chaos.dns{...} (a DNS server whose names fail as told), and
-- chaos.timeline{...} (faults on a schedule). See README.md, "Chaos".

local proxy = require "lnet.chaos.proxy"
local toxics = require "lnet.chaos.toxics"
local udp = require "lnet.chaos.udp"
local dns = require "lnet.chaos.dns"
local timeline = require "lnet.chaos.timeline"

local _M = {
    proxy = proxy.proxy,
    udp_proxy = udp.udp_proxy,
    dns = dns.dns,
    timeline = timeline.timeline,
}

-- chaos.latency{ms = 50}, chaos.bandwidth{...}, ...: the spec with its type
-- filled in, for proxy:add(chaos.latency{ms = 50, stream = "down"}).
local pairs = pairs

for name in pairs(toxics.types) do
    _M[name] = function(spec)
        local t = {}
        for k, v in pairs(spec or {}) do
            t[k] = v
        end
        t.type = name
        return t
    end
end

return _M
