-- lnet outside its checkout: `cmake --install` into a temporary prefix
-- (once for the file), then the host, `require "lnet"`, a user's busted
-- project and a C program built with pkg-config, each as a user would run
-- them: from a directory of their own, with a clean environment (env -i).
-- Tagged #packaging: .ci/test runs these once, on the plain build.

local support = require "support"

local sh, sh_ok, quote = support.sh, support.sh_ok, support.quote

-- The system's commands only: nothing of the checkout or the build.
local SYSTEM_PATH = "/usr/bin:/bin"

-- What a prefix holds after `cmake --install` (a build configured for
-- /usr/local, as .ci/setup's is: libdir is lib).
local LAYOUT = {
    "bin/lnet",
    "share/lua/5.1/lnet/init.lua",
    "share/lua/5.1/lnet/host.lua",
    "share/lua/5.1/lnet/busted.lua",
    "lib/lua/5.1/lnet/core.so",
    "lib/liblnet.a",
    "lib/liblnet.so",
    "include/lnet/conn.h",
    "include/lnet/listener.h",
    "include/lnet/version.h",
    "lib/pkgconfig/lnet.pc",
}

local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
end

-- LuaJIT's own package.path and cpath, with /usr/local (the default
-- prefix) moved to prefix: where it would look had lnet gone to /usr/local.
local function default_paths(prefix)
    local paths = sh_ok("env -i luajit -e 'io.write(package.path, \"\\n\", package.cpath)'")
    local path, cpath = paths:match("^(.-)\n(.*)$")
    local function moved(p)
        return quote((p:gsub("/usr/local/", (prefix:gsub("%%", "%%%%")) .. "/")))
    end
    return ("LUA_PATH=%s LUA_CPATH=%s"):format(moved(path), moved(cpath))
end

-- The script a user runs: it blocks (so it runs as a task) and says where
-- lnet came from.
local SCRIPT = [[
local lnet = require "lnet"
assert(lnet.sleep(0.01))
print(package.searchpath("lnet", package.path), lnet._VERSION, arg[0], ...)
]]

-- A user's spec: its body blocks, so it passes only under the lnet.busted
-- helper (a blocking call outside a task raises).
local USER_SPEC = [[
local lnet = require "lnet"
describe("a user's project", function()
    it("dials its own listener from an it body", function()
        local ln = assert(lnet.listen("tcp", "127.0.0.1:0"))
        lnet.go(function() local c = ln:accept() c:write("hi") c:close() end)
        local c = assert(lnet.dial("tcp", tostring(ln:addr())))
        assert.are.equal("hi", c:read())
        c:close()
        ln:close()
    end)
end)
]]

describe("cmake --install #packaging", function()
    local tmp, prefix, home, manifest

    -- cmd run in home (a user's directory) with env -i, the prefix's bin/
    -- first on PATH, and vars set.
    local function as_user(cmd, vars, dir)
        return sh(("cd %s && env -i PATH=%s %s %s"):format(quote(dir or home),
            quote(prefix .. "/bin:" .. SYSTEM_PATH), vars or "", cmd))
    end

    local function pkg_config(args)
        return ("PKG_CONFIG_PATH=%s pkg-config %s"):format(quote(prefix .. "/lib/pkgconfig"), args)
    end

    setup(function()
        tmp = support.temp_dir()
        prefix, home = tmp .. "/prefix", tmp .. "/home"
        sh_ok("mkdir " .. quote(home))
        sh_ok(("cmake --install %s --prefix %s"):format(quote(support.build), quote(prefix)), 60)
        manifest = sh_ok("sort " .. quote(support.build .. "/install_manifest.txt"))
        write(home .. "/script.lua", SCRIPT)
    end)

    teardown(function()
        support.rm_dir(tmp)
    end)

    it("puts each part in its place and lists every file in install_manifest.txt", function()
        for _, file in ipairs(LAYOUT) do
            assert.truthy(manifest:find(prefix .. "/" .. file .. "\n", 1, true), file)
        end
        -- The manifest is exactly what is there: removing what it lists uninstalls.
        assert.are.equal(manifest, sh_ok("find " .. quote(prefix) .. " ! -type d | sort"))
    end)

    it("runs a script on the installed modules with no environment", function()
        local out, code = as_user("lnet script.lua a b")
        assert.are.equal(0, code, out)
        assert.are.equal(("%s/share/lua/5.1/lnet/init.lua\t%s\tscript.lua\ta\tb\n"):format(prefix, support.version), out)
    end)

    it("runs from a prefix whose path has a space", function()
        local spaced = tmp .. "/a prefix"
        sh_ok(("cmake --install %s --prefix %s"):format(quote(support.build), quote(spaced)), 60)
        local out, code = sh(("cd %s && env -i PATH=%s %s script.lua"):format(quote(home), SYSTEM_PATH,
            quote(spaced .. "/bin/lnet")))
        assert.are.equal(0, code, out)
        assert.are.equal(spaced .. "/share/lua/5.1/lnet/init.lua\t" .. support.version .. "\tscript.lua\n", out)
    end)

    it("is found by plain luajit where LuaJIT looks by default", function()
        local out, code = as_user([[luajit -e 'local lnet = require "lnet"
            print(lnet.run(function() assert(lnet.sleep(0.01)) return lnet._VERSION end), require("lnet.core").path)']],
            default_paths(prefix))
        assert.are.equal(0, code, out)
        assert.are.equal(support.version .. "\t" .. prefix .. "/lib/lua/5.1/lnet/core.so\n", out)
    end)

    -- A prefix other than /usr/local needs its directories named, as for
    -- any Lua library installed there: the ";;" keeps the defaults.
    local function user_lua_paths()
        return ("LUA_PATH=%s LUA_CPATH=%s"):format(
            quote(("%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;;"):format(prefix, prefix)),
            quote(prefix .. "/lib/lua/5.1/?.so;;"))
    end

    it("runs a user's busted project whose .busted names the lnet.busted helper", function()
        local project = tmp .. "/project"
        sh_ok("mkdir -p " .. quote(project .. "/spec"))
        write(project .. "/.busted", [[return { _all = { lua = "luajit", helper = "lnet.busted" } }]])
        write(project .. "/spec/echo_spec.lua", USER_SPEC)
        local out, code = as_user("busted -o TAP", user_lua_paths(), project)
        assert.are.equal(0, code, out)
        assert.truthy(out:find("ok 1 - a user's project dials its own listener from an it body", 1, true), out)
    end)

    it("runs a user's spec with --helper=lnet.busted on the command line", function()
        local project = tmp .. "/bare"
        sh_ok("mkdir -p " .. quote(project .. "/spec"))
        write(project .. "/spec/echo_spec.lua", USER_SPEC)
        local out, code = as_user("busted --lua=luajit --helper=lnet.busted -o TAP", user_lua_paths(), project)
        assert.are.equal(0, code, out)
        assert.truthy(out:find("ok 1 - ", 1, true), out)
    end)

    it("shows CMakeLists.txt's version in lnet -v, lnet._VERSION, lnet.pc and lnet/version.h", function()
        assert.truthy(as_user("lnet -v"):find("^lnet " .. support.version:gsub("%.", "%%.") .. " %-%- LuaJIT "))
        assert.are.equal(support.version .. "\n", as_user("lnet -e 'print(require(\"lnet\")._VERSION)'"))
        assert.are.equal(support.version .. "\n", sh_ok(pkg_config("--modversion lnet")))
        local header = sh_ok("cat " .. quote(prefix .. "/include/lnet/version.h"))
        assert.truthy(header:find('#define LNET_VERSION%s+"' .. support.version:gsub("%.", "%%.") .. '"'))
    end)

    -- tests/pkgconfig_core.c: a listener, a conn, an echo and a deadline.
    local PROGRAM_OUTPUT = "^lnet " .. support.version:gsub("%.", "%%.") .. "\nlistening on 127%.0%.0%.1:%d+\n"
        .. "accepted a conn from port %d+\nserver read ping\nread deadline fired after 0%.%d%ds\ndone\n$"

    it("builds a C program with pkg-config against the installed liblnet.so", function()
        local exe = tmp .. "/core_shared"
        sh_ok(("cc -o %s %s $(%s) -Wl,-rpath,$(%s)"):format(quote(exe),
            quote(support.root .. "/tests/pkgconfig_core.c"), pkg_config("--cflags --libs lnet"),
            pkg_config("--variable=libdir lnet")))
        -- The library it loads is the installed one, not the build's.
        assert.truthy(sh_ok("ldd " .. quote(exe)):find("liblnet.so.%S* => " .. prefix:gsub("%p", "%%%0")))
        local out, code = as_user(quote(exe))
        assert.are.equal(0, code, out)
        assert.truthy(out:find(PROGRAM_OUTPUT), out)
    end)

    it("links the same program statically with liblnet.a and Libs.private", function()
        local exe = tmp .. "/core_static"
        local archive = prefix .. "/lib/liblnet.a"
        sh_ok(("libs=$(%s) && cc -o %s %s $(%s) %s ${libs#*-llnet}"):format(pkg_config("--static --libs lnet"),
            quote(exe), quote(support.root .. "/tests/pkgconfig_core.c"), pkg_config("--cflags lnet"), quote(archive)))
        assert.falsy(sh_ok("ldd " .. quote(exe)):find("liblnet", 1, true))
        local out, code = as_user(quote(exe))
        assert.are.equal(0, code, out)
        assert.truthy(out:find(PROGRAM_OUTPUT), out)
    end)

    it("has public headers that each compile on their own", function()
        local headers = sh_ok("cd " .. quote(prefix .. "/include") .. " && ls lnet/*.h")
        local count = 0
        for header in headers:gmatch("[^\n]+") do
            count = count + 1
            -- gcc's default dialect, and strict C11 with POSIX. (The typedef:
            -- ISO C wants a declaration, and version.h has only macros.)
            for _, std in ipairs({ "", "-std=c11 -D_POSIX_C_SOURCE=200809L" }) do
                local out, code = sh(("printf '#include <%s>\\ntypedef int check;\\n' | cc -x c -fsyntax-only -Wall -Wextra -Werror -pedantic %s $(%s) -"):format(
                    header, std, pkg_config("--cflags lnet")))
                assert.are.equal(0, code, header .. " " .. std .. ":\n" .. out)
            end
        end
        assert.is_true(count >= 15, headers)
    end)
end)
