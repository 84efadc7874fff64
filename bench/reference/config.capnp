# workerd config for bench/reference/mirror.js, in the shape of the shared baseline's (the
# sockets "seed" and "limit", the fake AI, storage in "do-disk"), so that bench/interleaved.mjs
# serves it as a `seed=` target: -s seed=ADDR -s limit=ADDR -e fake-ai=ADDR -d do-disk=DIR.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "seed", worker = .mirror),
    (name = "limit", worker = .mirror),
    (name = "fake-ai", external = (address = "127.0.0.1:18700", http = ())),
    (name = "do-disk", disk = (path = "/tmp/agentc-mirror-do", writable = true)),
  ],
  sockets = [
    (name = "seed", address = "127.0.0.1:18711", http = (), service = "seed"),
    (name = "limit", address = "127.0.0.1:18712", http = (), service = "limit"),
  ],
);

const mirror :Workerd.Worker = (
  modules = [ (name = "mirror.js", esModule = embed "mirror.js") ],
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "AI", wrapped = (moduleName = "cloudflare-internal:ai-api",
                             innerBindings = [(name = "fetcher", service = "fake-ai")])),
    (name = "SESSIONS", durableObjectNamespace = "Session"),
  ],
  durableObjectNamespaces = [ (className = "Session", uniqueKey = "agentc-mirror-Session", enableSql = true) ],
  durableObjectStorage = (localDisk = "do-disk"),
);
