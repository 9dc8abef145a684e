-- Lensflow for Neovim: code lenses and commands of the Lensflow language server, with the
-- LSP client built into Neovim. No plugin needed (nvim-lspconfig does not know Lensflow).
--
-- Tried on Neovim 0.7.2 (Debian bookworm) and 0.12.0-dev; written for 0.7 and newer:
-- `vim.lsp.start` (0.8+) is used where it exists, `vim.lsp.start_client` +
-- `vim.lsp.buf_attach_client` on 0.7.
--
-- Use it, either way:
--   * sourced: in init.lua
--       vim.g.lensflow = { cmd = { '/path/to/venv/bin/python', '-m', 'lensflow' } }  -- optional
--       dofile('/path/to/lensflow.lua')              -- or, in init.vim: source /path/to/lensflow.lua
--   * as a module: copy it to ~/.config/nvim/lua/lensflow.lua, then in init.lua
--       require('lensflow').setup({ cmd = { '/path/to/venv/bin/python', '-m', 'lensflow' } })
--
-- `cmd` must name a Python that has Lensflow installed (`pip install lensflow`, or the
-- project's .venv): the default "python3" works only if Lensflow is on that interpreter.
-- `{ '/path/to/venv/bin/lensflow' }` (the console script) works as well.
--
-- Over TCP, to a server you started (`lensflow --tcp 127.0.0.1:2087`), instead of `cmd`:
--       tcp = { host = '127.0.0.1', port = 2087 }   -- token_file = '...' if not the default
-- The server serves only a client that sends its token (initializationOptions.token): it is
-- read from the server's token file, by default $XDG_STATE_HOME/lensflow/tcp-token, else
-- ~/.local/state/lensflow/tcp-token. 0.8+ connects with vim.lsp.rpc.connect; 0.7, which
-- cannot, through a small Python relay (tcp.python, default 'python3').
--
-- What you get in Python buffers:
--   * code lenses as virtual text at the end of the `with mlflow.start_run():` line
--     ("▶ Track run | Last run: ✓ FINISHED · mse=3424.86 · just now"), refreshed on
--     BufEnter, CursorHold and InsertLeave;
--   * <leader>l (opts.lens_key) runs the lens of the cursor's line (a menu if there are several);
--   * :LensflowTrackRun [script]     track the current file (or script) as an MLflow run;
--   * :Lensflow {command} [json]     any command, e.g. :Lensflow listRuns {"limit": 3};
--   * the run's output (lensflow/runOutput) and each command's result go to the
--     [Lensflow] scratch buffer, opened in a split; a one-line summary goes to :messages.

local M = {}

M.defaults = {
  name = 'lensflow',
  -- The server: `python -m lensflow`, speaking LSP over stdio.
  cmd = { 'python3', '-m', 'lensflow' },
  -- Or LSP over TCP, with the server's token: { host = '127.0.0.1', port = 2087 } (see above).
  tcp = nil,
  filetypes = { 'python' },
  -- initializationOptions (see ARCHITECTURE.md, "Settings"): workspace = "local" keeps
  -- runs in <root>/.lensflow; or the path of an Azure ML config.json.
  init_options = { workspace = 'local' },
  -- Files or folders whose presence marks the project root (the LSP workspace folder);
  -- none found: the file's own folder.
  root_markers = { '.git' },
  lens_key = '<leader>l',
  -- Write a modified buffer before tracking it: the server runs the file on disk.
  save_before_run = true,
  -- Open the [Lensflow] buffer in a split when output or a result arrives.
  open_output = true,
}

M.config = vim.deepcopy(M.defaults)
M.last_result = nil -- the last command's result (a table), for scripts and tests
M.last_error = nil -- the last command's error, if it failed
M.pending = 0 -- commands sent, not answered yet

local uv = vim.loop
local has_011 = vim.fn.has('nvim-0.11') == 1

-- Client methods: `client.request(...)` up to 0.10, `client:request(...)` from 0.11.
local function request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

-- JSON null arrives as vim.NIL: drop it so results print cleanly.
local function plain(value)
  if value == vim.NIL then
    return nil
  end
  if type(value) == 'table' then
    local out = {}
    for k, v in pairs(value) do
      out[k] = plain(v)
    end
    return out
  end
  return value
end

---------------------------------------------------------------------------------------------
-- The [Lensflow] output buffer
---------------------------------------------------------------------------------------------
local output_buf = nil

local function output_buffer()
  if output_buf and vim.api.nvim_buf_is_valid(output_buf) then
    return output_buf
  end
  output_buf = vim.api.nvim_create_buf(false, true) -- unlisted scratch buffer
  vim.api.nvim_buf_set_name(output_buf, '[Lensflow]')
  vim.bo[output_buf].bufhidden = 'hide'
  vim.bo[output_buf].swapfile = false
  return output_buf
end

--- The [Lensflow] buffer's lines.
function M.output_lines()
  return vim.api.nvim_buf_get_lines(output_buffer(), 0, -1, false)
end

function M.show_output()
  local buf = output_buffer()
  if vim.fn.bufwinid(buf) == -1 then
    local here = vim.api.nvim_get_current_win()
    vim.cmd('botright 12split')
    vim.api.nvim_win_set_buf(0, buf)
    vim.api.nvim_set_current_win(here)
  end
end

function M.append(lines)
  local buf = output_buffer()
  if type(lines) == 'string' then
    lines = vim.split(lines, '\n', { plain = true })
  end
  local count = vim.api.nvim_buf_line_count(buf)
  local first = vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1]
  if count == 1 and first == '' then
    vim.api.nvim_buf_set_lines(buf, 0, 1, false, lines)
  else
    vim.api.nvim_buf_set_lines(buf, count, count, false, lines)
  end
  if M.config.open_output then
    M.show_output()
  end
  local win = vim.fn.bufwinid(buf)
  if win ~= -1 then
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  end
end

---------------------------------------------------------------------------------------------
-- Results and notifications
---------------------------------------------------------------------------------------------
local function summary(command, result)
  if type(result) ~= 'table' then
    return string.format('Lensflow %s: %s', command, vim.inspect(result))
  end
  if result.status and result.runId then -- trackRun, getRun
    local metrics = {}
    for k, v in pairs(result.metrics or {}) do
      table.insert(metrics, string.format('%s=%.6g', k, v))
    end
    table.sort(metrics)
    return string.format('Lensflow: run %s %s %s', result.runId:sub(1, 8), result.status,
      table.concat(metrics, ' '))
  end
  local keys = vim.tbl_keys(result)
  table.sort(keys)
  return string.format('Lensflow %s: done (%s)', command, table.concat(keys, ', '))
end

-- The handler of every workspace/executeCommand this file sends.
local function on_command_result(command)
  return function(err, result, ctx)
    M.pending = math.max(0, M.pending - 1)
    if err then
      M.last_error = plain(err)
      local message = string.format('Lensflow %s failed: %s', command, err.message or vim.inspect(err))
      M.append({ message, vim.inspect(plain(err.data) or {}) })
      vim.notify(message, vim.log.levels.ERROR)
      return
    end
    M.last_result = plain(result)
    M.append(vim.split('== ' .. command .. '\n' .. vim.inspect(M.last_result), '\n', { plain = true }))
    vim.notify(summary(command, M.last_result), vim.log.levels.INFO)
    if ctx and ctx.bufnr then
      M.refresh(ctx.bufnr) -- "Last run: …" and "Register model" change after a run
    end
  end
end

--- Asks for the buffer's lenses again (0.7-0.9 can only refresh the current buffer).
function M.refresh(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  if vim.fn.has('nvim-0.10') == 1 then
    pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
  elseif bufnr == vim.api.nvim_get_current_buf() then
    pcall(vim.lsp.codelens.refresh)
  end
end

local partial_lines = {} -- runId/stream -> the unfinished last line of the output

local handlers = {
  -- A training script's stdout/stderr, streamed while it runs: {runId, stream, text}.
  -- Chunks are not lines: a line may come in two pieces, so whole lines are shown, and the
  -- rest is kept until its end arrives (or the run ends).
  ['lensflow/runOutput'] = function(_, params)
    local key = (params.runId or '') .. '/' .. (params.stream or '')
    local text = (partial_lines[key] or '') .. (params.text or '')
    local prefix = params.stream == 'stderr' and '! ' or '| '
    local lines = vim.split(text, '\n', { plain = true })
    partial_lines[key] = table.remove(lines) -- '' when the chunk ended a line
    if #lines > 0 then
      M.append(vim.tbl_map(function(line)
        return prefix .. line
      end, lines))
    end
  end,
  ['lensflow/runUpdated'] = function(_, params)
    local ended = ({ FINISHED = true, FAILED = true, KILLED = true })[params.status]
    for _, stream in ipairs(ended and { 'stdout', 'stderr' } or {}) do
      local key = (params.runId or '') .. '/' .. stream
      if (partial_lines[key] or '') ~= '' then
        M.append((stream == 'stderr' and '! ' or '| ') .. partial_lines[key])
      end
      partial_lines[key] = nil
    end
    M.append(string.format('run %s is %s', (params.runId or '?'):sub(1, 8), params.status or '?'))
  end,
  ['lensflow/serviceUpdated'] = function(_, params)
    vim.notify(string.format('Lensflow: service %s is %s', params.serviceName, params.state))
  end,
  ['lensflow/clusterUpdated'] = function(_, params)
    vim.notify(string.format('Lensflow: cluster %s is %s', params.name, params.state))
  end,
  ['lensflow/workspaceChanged'] = function(_, params)
    vim.notify(string.format('Lensflow: workspace %s (%s)', params.name, params.kind))
  end,
}

-- Lenses run through vim.lsp.codelens.run(), which hands the answer to the global
-- workspace/executeCommand handler (a no-op by default): show Lensflow's answers there too.
-- (Sourcing this file again keeps the handler it wrapped the first time.)
local default_execute = rawget(_G, 'Lensflow') and _G.Lensflow.default_execute
  or vim.lsp.handlers['workspace/executeCommand']
M.default_execute = default_execute
vim.lsp.handlers['workspace/executeCommand'] = function(err, result, ctx, config)
  local client = ctx and vim.lsp.get_client_by_id(ctx.client_id)
  if client and client.name == M.config.name then
    local command = ctx.params and ctx.params.command or 'command'
    M.pending = M.pending + 1 -- balanced by on_command_result
    return on_command_result(command)(err, result, ctx)
  end
  if default_execute then
    return default_execute(err, result, ctx, config)
  end
end

---------------------------------------------------------------------------------------------
-- Starting the server
---------------------------------------------------------------------------------------------
local function find_root(path)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local start = dir
  while dir and dir ~= '' do
    for _, marker in ipairs(M.config.root_markers) do
      if uv.fs_stat(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  return start
end

local clients_by_root = {} -- 0.7 only: one server per root

-- 0.7 has no vim.lsp.rpc.connect: its client talks to a process, so this one relays stdio to
-- the socket (and ends when the server closes it).
local RELAY = [[
import socket, sys, threading
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def up():
    while data := sys.stdin.buffer.read1(65536):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while data := conn.recv(65536):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
]]

function M.token_file()
  local tcp = M.config.tcp or {}
  if tcp.token_file then
    return vim.fn.expand(tcp.token_file)
  end
  local state = os.getenv('XDG_STATE_HOME')
  if not state or state:sub(1, 1) ~= '/' then
    state = vim.fn.expand('~/.local/state')
  end
  return state .. '/lensflow/tcp-token'
end

local function read_token()
  local path = M.token_file()
  local file = io.open(path, 'r')
  if not file then
    return nil, 'no token file ' .. path .. ': start the server (lensflow --tcp ...) first'
  end
  local token = vim.trim(file:read('*a') or '')
  file:close()
  return token
end

-- The transport, and the initializationOptions (the token in them over TCP). Nil and why
-- when the token cannot be read.
local function connection()
  local tcp = M.config.tcp
  if not tcp then
    return M.config.cmd, M.config.init_options
  end
  local token, why = read_token()
  if not token then
    return nil, why
  end
  -- The token goes in initialize only: `settings` (didChangeConfiguration) stays without it.
  local options = vim.tbl_extend('force', M.config.init_options, { token = token })
  if vim.lsp.rpc.connect then
    return vim.lsp.rpc.connect(tcp.host or '127.0.0.1', tcp.port), options
  end
  return { tcp.python or 'python3', '-c', RELAY, tcp.host or '127.0.0.1', tostring(tcp.port) }, options
end

local function client_config(root, cmd, init_options)
  return {
    name = M.config.name,
    cmd = cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ':t') } },
    init_options = init_options,
    -- The same settings again, for clients that send workspace/didChangeConfiguration:
    -- an empty `settings` there would reset the initialization options to the defaults.
    settings = { lensflow = M.config.init_options },
    handlers = handlers,
    on_attach = function(_, bufnr)
      M.refresh(bufnr) -- the first lenses, without waiting for an editor event
    end,
    on_exit = function(_, _, client_id)
      for root_dir, id in pairs(clients_by_root) do
        if id == client_id then
          clients_by_root[root_dir] = nil
        end
      end
    end,
  }
end

--- Starts (or reuses) the server for `bufnr` and attaches it. Returns the client id.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == '' or vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local root = find_root(path)
  local cmd, init_options = connection()
  if not cmd then
    vim.notify('Lensflow: ' .. init_options, vim.log.levels.ERROR)
    return nil
  end
  local client_id
  if vim.lsp.start then -- 0.8+: reuses a client of the same name and root
    client_id = vim.lsp.start(client_config(root, cmd, init_options), { bufnr = bufnr })
  else -- 0.7
    client_id = clients_by_root[root]
    if not client_id or not vim.lsp.get_client_by_id(client_id) then
      client_id = vim.lsp.start_client(client_config(root, cmd, init_options))
      clients_by_root[root] = client_id
    end
    if client_id then
      vim.lsp.buf_attach_client(bufnr, client_id)
    end
  end
  if not client_id then
    local how = M.config.tcp and ('connect to port ' .. tostring(M.config.tcp.port))
      or ('start ' .. table.concat(M.config.cmd, ' '))
    vim.notify('Lensflow: could not ' .. how, vim.log.levels.ERROR)
    return nil
  end
  vim.api.nvim_buf_set_var(bufnr, 'lensflow_client_id', client_id)
  if M.config.lens_key then
    vim.api.nvim_buf_set_keymap(bufnr, 'n', M.config.lens_key, '<cmd>lua vim.lsp.codelens.run()<CR>',
      { noremap = true, silent = true, desc = 'Lensflow: run the code lens of this line' })
  end
  return client_id
end

--- The running Lensflow client of a buffer, or nil.
function M.client(bufnr)
  local ok, id = pcall(vim.api.nvim_buf_get_var, bufnr or 0, 'lensflow_client_id')
  if not ok then
    return nil
  end
  return vim.lsp.get_client_by_id(id)
end

--- Runs `command` with one argument object through workspace/executeCommand.
function M.execute(command, args, bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = M.client(bufnr)
  if not client or not client.initialized then
    vim.notify(client and 'Lensflow is still starting: try again in a moment'
      or 'Lensflow is not running for this buffer (is it a Python file? see :messages)',
      vim.log.levels.WARN)
    return false
  end
  if not command:find('^lensflow%.') then
    command = 'lensflow.' .. command
  end
  M.pending = M.pending + 1
  -- Sent to the Lensflow client only: vim.lsp.buf_request(0, ...) would send it to every
  -- server attached to the buffer (pyright, pylsp, …), and they would answer with errors.
  request(client, 'workspace/executeCommand', { command = command, arguments = { args or vim.empty_dict() } },
    on_command_result(command), bufnr)
  return true
end

function M.track_run(script)
  local bufnr = vim.api.nvim_get_current_buf()
  if not script or script == '' then
    if M.config.save_before_run and vim.bo[bufnr].modified then
      vim.cmd('silent update')
    end
    script = vim.api.nvim_buf_get_name(bufnr)
  end
  M.append('== tracking ' .. script)
  return M.execute('lensflow.trackRun', { script = script }, bufnr)
end

---------------------------------------------------------------------------------------------
-- Set-up: autocommands and user commands (calling it again replaces them)
---------------------------------------------------------------------------------------------
function M.setup(opts)
  opts = opts or {}
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  for _, list in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    M.config[list] = opts[list] or M.config[list] -- lists are replaced, not merged by index
  end
  local group = vim.api.nvim_create_augroup('lensflow', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.attach(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufEnter', 'CursorHold', 'InsertLeave' }, {
    group = group,
    callback = function(ev)
      local client = M.client(ev.buf)
      if client and client.initialized then
        M.refresh(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_user_command('LensflowTrackRun', function(cmd)
    M.track_run(cmd.args)
  end, { nargs = '?', complete = 'file', desc = 'Lensflow: track this file as an MLflow run' })
  vim.api.nvim_create_user_command('Lensflow', function(cmd)
    local name, json = cmd.args:match('^(%S+)%s*(.*)$')
    local ok, args = true, vim.empty_dict()
    if json and json ~= '' then
      ok, args = pcall(vim.json.decode, json)
    end
    if not ok or type(args) ~= 'table' then
      vim.notify('Lensflow: arguments must be one JSON object, e.g. {"limit": 3}', vim.log.levels.ERROR)
      return
    end
    M.execute(name, args)
  end, {
    nargs = '+',
    desc = 'Lensflow: run a command, e.g. :Lensflow listRuns {"limit": 3}',
    complete = function(lead)
      local client = M.client(0)
      local provider = client and client.server_capabilities.executeCommandProvider
      local names = {}
      for _, name in ipairs(provider and provider.commands or {}) do
        local short = name:gsub('^lensflow%.', '')
        if short:find(lead, 1, true) == 1 then
          table.insert(names, short)
        end
      end
      return names
    end,
  })
  -- Buffers already open (e.g. this file was sourced after a Python file was loaded).
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(M.config.filetypes, vim.bo[buf].filetype) then
      M.attach(buf)
    end
  end
  return M
end

-- Sourced (`dofile`, `:source`): set up at once, with `vim.g.lensflow` as the options.
-- Required as a module: the same; `require('lensflow').setup({...})` then replaces them.
M.setup(vim.g.lensflow or {})
_G.Lensflow = M
return M
