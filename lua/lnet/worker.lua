-- lnet.worker (private): whether this process is one of the copies that
-- `lnet --workers N script.lua` runs (lnet.workers), and which one. The
-- supervisor tells each copy through its environment.

local tonumber, getenv = tonumber, os.getenv

local _M = { ENV_ID = "LNET_WORKER_ID", ENV_COUNT = "LNET_WORKERS" }

-- This copy's number, 1..N; nil outside `lnet --workers`.
_M.id = tonumber(getenv(_M.ENV_ID))

return _M
