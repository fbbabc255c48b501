-- mod_bench_routes: static s2s routes for the bench (like fedrouter's `routes`).
-- bench_routes = { ["r1.bench.example"] = { "127.0.0.10", 20001 }; ... }
-- A remote domain listed here is connected to that address and port (STARTTLS, no DNS); the
-- direct TLS (xmpps-server) lookup gets no target. Other domains resolve as usual.
module:set_global();

local service = require "net.resolvers.service";
local manual = require "net.resolvers.manual";

local routes = module:get_option("bench_routes", {});
local original_new = service.new;

service.new = function (hostname, service_name, proto, extra)
	local route = routes[hostname];
	if route then
		if service_name == "xmpps-server" then
			return manual.new({}, proto, extra);
		end
		return manual.new({ { (proto or "tcp") .. "4", route[1], route[2], extra } }, proto, extra);
	end
	return original_new(hostname, service_name, proto, extra);
end

function module.unload()
	service.new = original_new;
end
