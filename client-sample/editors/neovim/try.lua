-- A headless trial of lensflow.lua, as a new user would try it: open a training script,
-- wait for the server, read the lenses, run :LensflowTrackRun, read the lenses again.
--
--   LENSFLOW_PYTHON=/path/to/venv/bin/python LENSFLOW_TRIAL_OUT=/tmp/out \
--     nvim --headless -u client-sample/editors/neovim/try.lua /tmp/project/train.py
--
-- Writes to $LENSFLOW_TRIAL_OUT: lenses.txt (before the run), result.json (trackRun's
-- result), lenses-after.txt, lens-result.json (the result of running the "▶ Track run"
-- lens with the lens key), output.txt (the [Lensflow] buffer), messages.txt, and
-- error.txt if a step failed (nvim then exits with status 1).

local out = assert(os.getenv('LENSFLOW_TRIAL_OUT'), 'set LENSFLOW_TRIAL_OUT to a folder')
local python = os.getenv('LENSFLOW_PYTHON') or 'python3'
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local timeout_ms = tonumber(os.getenv('LENSFLOW_TRIAL_TIMEOUT_MS') or '150000')

vim.fn.mkdir(out, 'p')
local function write(name, lines)
  if type(lines) == 'string' then
    lines = vim.split(lines, '\n', { plain = true })
  end
  vim.fn.writefile(lines, out .. '/' .. name)
end

-- What a user's init.lua would hold. LENSFLOW_TRIAL_TCP=127.0.0.1:PORT: a server started
-- with `--tcp` (and LENSFLOW_TRIAL_TOKEN_FILE, its --token-file), instead of one over stdio.
local tcp = os.getenv('LENSFLOW_TRIAL_TCP')
if tcp then
  local host, port = tcp:match('^(.*):(%d+)$')
  vim.g.lensflow = { tcp = { host = host, port = tonumber(port), python = python,
    token_file = os.getenv('LENSFLOW_TRIAL_TOKEN_FILE') } }
else
  vim.g.lensflow = { cmd = { python, '-m', 'lensflow' } }
end
dofile(here .. '/lensflow.lua')
local lensflow = _G.Lensflow

local function wait_for(what, predicate, ms)
  if not vim.wait(ms or timeout_ms, predicate, 50) then
    error('timed out waiting for ' .. what)
  end
end

local function lens_lines(bufnr)
  local lines = {}
  for _, lens in ipairs(vim.lsp.codelens.get(bufnr)) do
    table.insert(lines, string.format('line %d: %s', lens.range.start.line + 1,
      lens.command and lens.command.title or '(unresolved)'))
  end
  table.sort(lines)
  return lines
end

-- Lenses as the editor shows them: refresh, then wait until every lens is resolved.
local function read_lenses(bufnr, must_contain)
  local lines = {}
  wait_for('resolved lenses containing ' .. must_contain, function()
    lensflow.refresh(bufnr)
    lines = lens_lines(bufnr)
    local text = table.concat(lines, '\n')
    return #lines > 0 and not text:find('(unresolved)', 1, true) and text:find(must_contain, 1, true) ~= nil
  end, 30000)
  return lines
end

local function trial()
  local bufnr = vim.api.nvim_get_current_buf()
  assert(vim.bo[bufnr].filetype == 'python', 'not a python buffer: ' .. vim.api.nvim_buf_get_name(bufnr))
  wait_for('the Lensflow client to attach', function()
    local client = lensflow.client(bufnr)
    return client ~= nil and client.initialized == true
  end, 60000)
  write('lenses.txt', read_lenses(bufnr, 'Track run'))

  vim.cmd('LensflowTrackRun')
  wait_for('the trackRun result', function()
    return lensflow.pending == 0 and (lensflow.last_result ~= nil or lensflow.last_error ~= nil)
  end)
  if lensflow.last_error then
    error('trackRun failed: ' .. vim.inspect(lensflow.last_error))
  end
  write('result.json', vim.json.encode(lensflow.last_result))

  local lenses_after = read_lenses(bufnr, 'Last run:')
  write('lenses-after.txt', lenses_after)

  -- The lens itself, as <leader>l on its line does: two lenses share the line, so
  -- vim.ui.select asks which one; answer "▶ Track run" as a user would.
  vim.ui.select = function(items, opts, on_choice)
    for i, item in ipairs(items) do
      if opts.format_item(item):find('Track run', 1, true) then
        return on_choice(item, i)
      end
    end
    on_choice(nil, nil)
  end
  local anchor = tonumber(lenses_after[1]:match('^line (%d+)'))
  vim.api.nvim_win_set_cursor(0, { anchor, 0 })
  lensflow.last_result = nil
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lensflow.config.lens_key, true, false, true), 'x', false)
  wait_for('the result of the lens', function()
    return lensflow.pending == 0 and (lensflow.last_result ~= nil or lensflow.last_error ~= nil)
  end)
  if lensflow.last_error then
    error('the Track run lens failed: ' .. vim.inspect(lensflow.last_error))
  end
  write('lens-result.json', vim.json.encode(lensflow.last_result))
  write('output.txt', lensflow.output_lines())
  write('windows.txt', vim.tbl_map(function(win)
    return vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win))
  end, vim.api.nvim_list_wins()))
end

vim.api.nvim_create_autocmd('VimEnter', {
  callback = function()
    vim.schedule(function()
      local ok, err = xpcall(trial, debug.traceback)
      write('messages.txt', vim.fn.execute('messages'))
      if not ok then
        write('error.txt', tostring(err))
        vim.cmd('cquit 1')
      else
        vim.cmd('qall!')
      end
    end)
  end,
})
