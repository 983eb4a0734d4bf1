-- The .deb: a build configured for /usr (once for the file), `cpack -G DEB`,
-- then what dpkg-deb says of the package and what it does once unpacked.
--
-- The package is not installed for real: `apt-get install` would change
-- /usr on a machine that CI runs and sessions share, collide with a run
-- beside it, and leave lnet behind if the spec died halfway. Instead it is
-- unpacked into a scratch root with dpkg -x, and its host and module run
-- from there: the host finds its files from its own place, and luajit is
-- given its own default paths with /usr moved to the scratch root. Its
-- Depends are checked against what the ELF files link and against what
-- this machine has installed, which is what apt would need.
-- Tagged #packaging: .ci/test runs these once, on the plain build.

local support = require "support"

local sh, sh_ok, quote = support.sh, support.sh_ok, support.quote

-- The packages lnet needs at run time: its Depends must name each
-- (libssl3: OpenSSL, for lnet.tls).
local RUNTIME = { "libluajit-5.1-2", "libev4", "libc-ares2", "libedit2", "libssl3", "libc6" }

-- The Depends field as { name = version constraint or "" }, first
-- alternatives only (libluajit-5.1-2 | libluajit2-5.1-2).
local function depends(field)
    local deps = {}
    for item in field:gmatch("[^,]+") do
        local first = item:match("^%s*([^|]-)%s*$") or item:match("^%s*([^|]-)%s*|")
        local name, constraint = first:match("^(%S+)%s*(.*)$")
        deps[name] = constraint:match("^%((.*)%)$") or ""
    end
    return deps
end

-- The package owning a library ldd names. With /usr merged, ldd may say
-- /lib/... where dpkg knows /usr/lib/..., or the other way round, or only
-- the file a symlink points to.
local OWNER = [[p=%s; for c in "$p" "/usr$p" "${p#/usr}" "$(realpath "$p")"; do
    dpkg -S "$c" 2>/dev/null && break; done | head -1]]

describe("the .deb #packaging", function()
    local tmp, deb, root, arch

    setup(function()
        tmp = support.temp_dir()
        local build = tmp .. "/build"
        sh_ok(("cmake -S %s -B %s -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF"):format(
            quote(support.root), quote(build)), 60)
        sh_ok(("cmake --build %s -j2"):format(quote(build)), 300)
        sh_ok(("cd %s && cpack -G DEB -B %s"):format(quote(build), quote(tmp .. "/out")), 120)
        arch = sh_ok("dpkg --print-architecture"):gsub("\n", "")
        deb = ("%s/out/lnet_%s_%s.deb"):format(tmp, support.version, arch)
        root = tmp .. "/root"
        sh_ok(("dpkg -x %s %s"):format(quote(deb), quote(root)))
    end)

    teardown(function()
        support.rm_dir(tmp)
    end)

    it("is lnet_<version>_<arch>.deb, of CMakeLists.txt's version", function()
        assert.are.equal(("lnet\n%s\n%s\n"):format(support.version, arch),
            sh_ok(("dpkg-deb -f %s Package Version Architecture"):format(quote(deb))):gsub("%w+: ", ""))
    end)

    it("holds the host, the Lua modules and lnet.core where Debian's LuaJIT looks, and the core for C", function()
        local files = sh_ok(("dpkg-deb -c %s | awk '{ print $6 }'"):format(quote(deb)))
        local multiarch = sh_ok("dpkg-architecture -qDEB_HOST_MULTIARCH"):gsub("\n", "")
        for _, file in ipairs({
            "./usr/bin/lnet",
            "./usr/share/lua/5.1/lnet/init.lua",
            "./usr/share/lua/5.1/lnet/busted.lua",
            "./usr/lib/" .. multiarch .. "/lua/5.1/lnet/core.so",
            "./usr/lib/" .. multiarch .. "/liblnet.so.0.1",
            "./usr/lib/" .. multiarch .. "/liblnet.a",
            "./usr/lib/" .. multiarch .. "/pkgconfig/lnet.pc",
            "./usr/include/lnet/conn.h",
            "./usr/include/lnet/version.h",
        }) do
            assert.truthy(files:find("\n" .. file .. "\n", 1, true), file .. " in\n" .. files)
        end
        assert.falsy(files:find("/usr/local", 1, true))
    end)

    it("depends on the packages of every library its ELF files link", function()
        local field = sh_ok(("dpkg-deb -f %s Depends"):format(quote(deb)))
        local deps = depends(field)
        for _, name in ipairs(RUNTIME) do
            assert.truthy(deps[name], name .. " missing from Depends: " .. field)
        end
        -- Each library an ELF file of the package links (its NEEDED, which
        -- ldd finds) belongs to a package it depends on.
        local files = sh_ok(("find %s -type f -print0 | xargs -0 file"):format(quote(root)))
        local libs, elves = {}, 0
        for elf in files:gmatch("([^\n]+): +ELF[^\n]*") do
            elves = elves + 1
            local found = sh_ok("ldd " .. quote(elf))
            for needed in sh_ok("objdump -p " .. quote(elf)):gmatch("NEEDED%s+(%S+)") do
                local lib = found:match("\t" .. needed:gsub("%p", "%%%0") .. " => (/%S+)")
                assert.truthy(lib, elf .. " needs " .. needed .. ", which ldd does not find:\n" .. found)
                libs[lib] = elf
            end
        end
        assert.are.equal(3, elves, files) -- the host, lnet.core, liblnet.so
        for lib, elf in pairs(libs) do
            local owner = sh_ok(OWNER:format(quote(lib))):match("^([^:]+)")
            assert.truthy(deps[owner], ("%s links %s, of %s, not in Depends: %s"):format(elf, lib, owner, field))
        end
    end)

    it("has Depends this machine satisfies, so apt installs it with nothing more", function()
        local deps = depends(sh_ok(("dpkg-deb -f %s Depends"):format(quote(deb))))
        for name, constraint in pairs(deps) do
            local version = sh_ok("dpkg-query -W -f='${Version}' " .. name .. ":" .. arch .. " 2>/dev/null || dpkg-query -W -f='${Version}' " .. name)
            if constraint ~= "" then
                local op, wanted = constraint:match("^(%S+)%s+(%S+)$")
                local relation = ({ [">="] = "ge", ["<="] = "le", ["="] = "eq", [">>"] = "gt", ["<<"] = "lt" })[op]
                local _, code = sh(("dpkg --compare-versions %s %s %s"):format(quote(version), relation, quote(wanted)))
                assert.are.equal(0, code, ("%s %s, wanted %s"):format(name, version, constraint))
            end
        end
    end)

    it("unpacked, gives a host that runs scripts on the package's own modules", function()
        local out, code = sh(("cd %s && env -i PATH=%s lnet -e %s"):format(quote(tmp), quote(root .. "/usr/bin:/usr/bin:/bin"),
            quote([[local lnet = require "lnet" assert(lnet.sleep(0.01)) print(package.searchpath("lnet", package.path), lnet._VERSION)]])))
        assert.are.equal(0, code, out)
        assert.are.equal(("%s/usr/share/lua/5.1/lnet/init.lua\t%s\n"):format(root, support.version), out)
    end)

    it("unpacked, gives `require \"lnet\"` to luajit at its default paths", function()
        local paths = sh_ok("env -i luajit -e 'io.write(package.path, \"\\n\", package.cpath)'")
        local path, cpath = paths:match("^(.-)\n(.*)$")
        local moved = (root .. "/usr/"):gsub("%%", "%%%%")
        local out, code = sh(("cd %s && env -i PATH=/usr/bin:/bin LUA_PATH=%s LUA_CPATH=%s luajit -e %s"):format(
            quote(tmp), quote((path:gsub("/usr/", moved))), quote((cpath:gsub("/usr/", moved))),
            quote([[local lnet = require "lnet" print(lnet.run(function() return lnet.sleep(0.01) end), lnet._VERSION)]])))
        assert.are.equal(0, code, out)
        assert.are.equal("true\t" .. support.version .. "\n", out)
    end)
end)
