-- lnet.memo (private): values kept by key for code that makes the same few
-- over and over (compiled DNS names, TLS configs, routed path segments).
-- The memo is dropped whole when it fills, which bounds it without
-- bookkeeping per entry.

local _M = {}

-- new(max, make): get(key [, a, b]): the value kept for key, else
-- make(key, a, b)'s, kept when it is not nil (nil and make's error are
-- returned as they are). At most max are kept.
function _M.new(max, make)
    local kept, n = {}, 0
    return function(key, a, b)
        local v = kept[key]
        if v ~= nil then
            return v
        end
        local err
        v, err = make(key, a, b)
        if v == nil then
            return nil, err
        end
        if n >= max then
            kept, n = {}, 0
        end
        kept[key], n = v, n + 1
        return v
    end
end

return _M
