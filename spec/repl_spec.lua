-- The REPL on a terminal: the host in a tmux pane (a real pty, so the line
-- editor is on), keys typed with send-keys, the screen read back with
-- capture-pane. One session for the file; the tests run in order and each
-- reads what its own input printed.

local lnet = require "lnet"
local support = require "support"

local sh, sh_ok, quote = support.sh, support.sh_ok, support.quote

local function escape(s)
    return (s:gsub("%p", "%%%0"))
end

describe("the REPL on a terminal", function()
    local tmp, tmux

    local function screen()
        -- -S -: from the start of the scrollback, so nothing scrolls away.
        return sh_ok(tmux .. " capture-pane -p -S - -t repl")
    end

    -- The screen once it matches pattern (polled for up to 5 s).
    local function wait_for(pattern)
        local text
        for _ = 1, 100 do
            text = screen()
            if text:find(pattern) then
                return text
            end
            lnet.sleep(0.05)
        end
        error(("the screen never matched %q:\n%s"):format(pattern, text), 2)
    end

    -- Keys by tmux's names (Enter, Up, BSpace) or, with literal, as text.
    local function keys(k, literal)
        sh_ok(("%s send-keys -t repl %s %s"):format(tmux, literal and "-l" or "", literal and quote(k) or k))
    end

    local function type_line(line)
        keys(line, true)
        keys("Enter")
    end

    setup(function()
        tmp = support.temp_dir()
        -- The spec's own tmux server; the ASan run's preload is for luajit, not tmux.
        tmux = "env -u LD_PRELOAD tmux -S " .. quote(tmp .. "/tmux")
        local asan = os.getenv("ASAN_OPTIONS")
        local host = ("env -i TERM=xterm PATH=/usr/bin:/bin %s %s"):format(
            asan and "ASAN_OPTIONS=" .. quote(asan) or "", quote(support.root .. "/" .. support.host))
        sh_ok(("%s new-session -d -s repl -x 100 -y 50 -c %s %s"):format(tmux, quote(tmp), quote(host)))
    end)

    teardown(function()
        sh(tmux .. " kill-server")
        support.rm_dir(tmp)
    end)

    it("starts with lnet's version and a prompt", function()
        wait_for("^lnet " .. escape(support.version) .. " %-%- LuaJIT [^\n]+\n> ?\n")
    end)

    it("prints the values of an expression, bare or after =", function()
        type_line("1 + 1")
        wait_for("\n> 1 %+ 1\n2\n")
        type_line("= 'a', nil")
        wait_for("\n> = 'a', nil\na%s+nil\n")
    end)

    it("reads on with >> until the chunk is complete", function()
        type_line("for i = 1, 2 do")
        wait_for("\n> for i = 1, 2 do\n>> ?\n")
        type_line("print(i * 10)")
        type_line("end")
        wait_for("\n>> print%(i %* 10%)\n>> end\n10\n20\n")
    end)

    it("runs each chunk as a task, so it may block", function()
        type_line("require('lnet').sleep(0.01)")
        wait_for("\n> require%('lnet'%)%.sleep%(0%.01%)\ntrue\n")
    end)

    it("prints an error as lua does and carries on", function()
        type_line("error('boom')")
        wait_for("\nstdin:1: boom\nstack traceback:\n")
        type_line("2 * 21")
        wait_for("\n> 2 %* 21\n42\n")
    end)

    it("recalls the last chunk with the up arrow, for editing", function()
        type_line("print(13)")
        wait_for("\n13\n")
        keys("Up")
        keys("Left")
        keys("BSpace")
        keys("4", true)
        keys("Enter")
        wait_for("\n> print%(14%)\n14\n")
    end)

    it("recalls a chunk of several lines as one", function()
        type_line("do local x = 6")
        type_line("print(x * 7) end")
        wait_for("\n>> print%(x %* 7%) end\n42\n")
        keys("Up")
        keys("Enter")
        -- Recalled, its second line shows without a prompt of its own.
        wait_for("\n> do local x = 6\nprint%(x %* 7%) end\n42\n")
    end)

    it("ends at end of input (ctrl-D)", function()
        keys("C-d")
        for _ = 1, 100 do
            local _, code = sh(tmux .. " has-session -t repl 2>/dev/null")
            if code ~= 0 then
                return
            end
            lnet.sleep(0.05)
        end
        error("the REPL did not end:\n" .. screen())
    end)
end)
