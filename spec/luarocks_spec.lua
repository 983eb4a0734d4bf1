-- LuaRocks: `luarocks make` of rockspecs/lnet-scm-1.rockspec into a tree of
-- its own (once for the file), from a copy of the checkout at a path with a
-- space in a 0700 directory, as a clone in /root/x would be. Then the
-- tree's host runs the demo, luajit finds lnet with the paths luarocks
-- gives, and the build tree's host (build.luarocks/) runs from the copy.
-- Tagged #packaging: .ci/test runs these once, on the plain build.

local support = require "support"

local sh, sh_ok, quote = support.sh, support.sh_ok, support.quote

local SYSTEM_PATH = "/usr/bin:/bin"

local function escape(s)
    return (s:gsub("%p", "%%%0"))
end

describe("luarocks make #packaging", function()
    local tmp, checkout, tree

    setup(function()
        tmp = support.temp_dir()
        checkout, tree = tmp .. "/a clone/lnet", tmp .. "/tree"
        sh_ok(("mkdir -p %s && chmod 0700 %s"):format(quote(checkout), quote(tmp .. "/a clone")))
        -- What a clone holds: the tracked files and the new ones not ignored.
        sh_ok(("git ls-files -co --exclude-standard -z | tar --null -T - -c | tar -x -C %s"):format(quote(checkout)))
        sh_ok(("cd %s && CMAKE_BUILD_PARALLEL_LEVEL=2 luarocks --lua-version=5.1 make rockspecs/lnet-scm-1.rockspec --tree %s"):format(
            quote(checkout), quote(tree)), 300)
    end)

    teardown(function()
        support.rm_dir(tmp)
    end)

    it("installs the host, the Lua modules and lnet.core into the tree", function()
        for _, file in ipairs({ "bin/lnet", "share/lua/5.1/lnet/init.lua", "share/lua/5.1/lnet/busted.lua",
            "lib/lua/5.1/lnet/core.so" }) do
            sh_ok("test -f " .. quote(tree .. "/" .. file))
        end
        local list = sh_ok(("luarocks --lua-version=5.1 --tree %s list --porcelain"):format(quote(tree)))
        assert.truthy(list:find("^lnet\tscm%-1\tinstalled\t"), list)
    end)

    it("gives a tree whose lnet runs the demo with no environment", function()
        local out, code = sh(("cd %s && env -i PATH=%s lnet %s"):format(quote(tmp), quote(tree .. "/bin:" .. SYSTEM_PATH),
            quote(checkout .. "/scripts/demo.lua")))
        assert.are.equal(0, code, out)
        assert.truthy(out:find('client got back "lnet"', 1, true), out)
        assert.truthy(out:find("i/o timeout (timeout: true)", 1, true), out)
        assert.truthy(out:find("server stopped", 1, true), out)
        out = sh_ok(("cd %s && env -i PATH=%s lnet -e %s"):format(quote(tmp), quote(tree .. "/bin:" .. SYSTEM_PATH),
            quote([[print(package.searchpath("lnet", package.path), require("lnet")._VERSION)]])))
        assert.are.equal(("%s/share/lua/5.1/lnet/init.lua\t%s\n"):format(tree, support.version), out)
    end)

    it("gives luajit `require \"lnet\"` with the paths `luarocks path` prints", function()
        local out, code = sh(("eval \"$(luarocks --lua-version=5.1 --tree %s path)\" && cd %s && luajit -e %s"):format(
            quote(tree), quote(tmp),
            quote([[local lnet = require "lnet" print(lnet.run(function() return lnet.sleep(0.01) end), require("lnet.core").path)]])))
        assert.are.equal(0, code, out)
        assert.are.equal("true\t" .. tree .. "/lib/lua/5.1/lnet/core.so\n", out)
    end)

    it("leaves a build-tree host that runs on the clone's own lua/", function()
        local out, code = sh(("cd %s && env -i PATH=%s %s -e %s"):format(quote(tmp), SYSTEM_PATH,
            quote(checkout .. "/build.luarocks/lnet"),
            quote([[local lnet = require "lnet" assert(lnet.sleep(0.01)) print(package.searchpath("lnet", package.path))]])))
        assert.are.equal(0, code, out)
        assert.are.equal(checkout .. "/lua/lnet/init.lua\n", out)
    end)

    it("writes the release rockspec with CMakeLists.txt's version", function()
        local spec = sh_ok(("cat %s"):format(quote(("%s/build.luarocks/lnet-%s-1.rockspec"):format(checkout, support.version))))
        assert.truthy(spec:find('\nversion = "' .. escape(support.version) .. '%-1"\n'), spec)
        assert.truthy(spec:find('\n    tag = "v' .. escape(support.version) .. '",\n'), spec)
    end)
end)
