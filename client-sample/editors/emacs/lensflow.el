;;; lensflow.el --- Lensflow's code lenses and commands through eglot  -*- lexical-binding: t; -*-

;; Lensflow is a language server (`python -m lensflow', LSP over stdio) that tracks an MLflow
;; training script, registers its model, deploys and invokes it, from the script itself.
;; This file sets it up with eglot, the LSP client of Emacs; no package from an archive needed.
;;
;; Tried on GNU Emacs 28.2 with Debian's elpa-eglot 1.9 (Debian bookworm:
;; `apt-get install emacs-nox elpa-eglot').  Emacs 29 and newer ship eglot: nothing to install.
;;
;; Use it: in your init file
;;   (setq lensflow-server-command '("/path/to/venv/bin/python" "-m" "lensflow")) ; optional
;;   (load "/path/to/lensflow.el")
;;   (add-hook 'python-mode-hook #'eglot-ensure)           ; and python-ts-mode-hook on 29+
;;
;; The plain eglot way would be one line,
;;   (add-to-list 'eglot-server-programs
;;                '(python-mode . ("python3" "-m" "lensflow"
;;                                 :initializationOptions (:workspace "local"))))
;; this file does the same, plus: a server class whose commands run without blocking Emacs and
;; print their results, the run's output in *lensflow*, and lenses (eglot has no lens UI).
;;
;; What you get in a Python buffer managed by eglot:
;;   M-x lensflow-track-run   (C-c l t)  track this file as an MLflow run; result in *lensflow*
;;   M-x eglot-code-actions   (C-c l a)  at `with mlflow.start_run():' offers "Lensflow: Track run",
;;                                        then "Lensflow: Register model ..." once a run finished
;;   M-x lensflow-show-lenses (C-c l s)  the code lenses, shown above their lines
;;                                        ("▶ Track run | Last run: ✓ FINISHED · mse=3424.86 · just now")
;;   M-x lensflow-run-lens    (C-c l l)  run a lens of the current line
;;   M-x lensflow-command     (C-c l c)  any command, e.g. lensflow.listRuns with {"limit": 3}
;;
;; Over TCP, to a server you started (`lensflow --tcp 127.0.0.1:2087'):
;;   (setq lensflow-tcp '("127.0.0.1" 2087))
;; The server serves only a client that sends its token (initializationOptions.token); it is
;; read from `lensflow-token-file' (by default the server's: $XDG_STATE_HOME/lensflow/tcp-token,
;; else ~/.local/state/lensflow/tcp-token).
;;
;; Note: eglot manages a buffer with one server.  With Lensflow for python-mode, another Python
;; server (pylsp, pyright) is not started for the same buffers.

;;; Code:

(require 'cl-lib)
(require 'json)
(require 'subr-x)
;; Emacs 28: eglot comes from Debian's elpa-eglot (or an archive); its packages are activated
;; at start-up, but not in `emacs --batch': activate them if eglot is not found yet.
(unless (locate-library "eglot")
  (package-initialize))
(require 'eglot)
(require 'jsonrpc)

(defgroup lensflow nil
  "Lensflow: MLflow runs, models and deployments from the training script."
  :group 'tools)

(defcustom lensflow-server-command '("python3" "-m" "lensflow")
  "How to start Lensflow.
The Python must have Lensflow installed: point it at the virtual
environment's python, e.g.
\(\"/path/to/project/.venv/bin/python\" \"-m\" \"lensflow\")."
  :type '(repeat string))

(defcustom lensflow-tcp nil
  "Connect to a Lensflow server over TCP instead of starting one: (HOST PORT).
For a server started as `lensflow --tcp 127.0.0.1:2087': (\"127.0.0.1\" 2087)."
  :type '(choice (const nil) (list string integer)))

(defcustom lensflow-token-file nil
  "The TCP server's token file; nil: the server's default.
That is $XDG_STATE_HOME/lensflow/tcp-token, else
~/.local/state/lensflow/tcp-token (`lensflow --token-file' names another)."
  :type '(choice (const nil) file))

(defcustom lensflow-settings '(:workspace "local")
  "Lensflow's settings: initializationOptions and the `lensflow' section.
Keys: :workspace (\"local\" or the path of an Azure ML config.json),
:trackingUri, :python (interpreter for training scripts), :home (state
folder)."
  :type 'plist)

(defcustom lensflow-command-timeout 3600
  "Seconds to wait for a command's result (a training run can take long)."
  :type 'integer)

(defcustom lensflow-major-modes '(python-mode python-ts-mode)
  "Major modes whose buffers Lensflow manages."
  :type '(repeat symbol))

(defface lensflow-lens-face '((t :inherit shadow :height 0.9))
  "Face of the code lenses shown above their lines.")

(defvar lensflow-last-result nil
  "The last command's result (a plist), for scripts and tests.")
(defvar lensflow-last-error nil
  "The last command's error (a plist), if it failed.")
(defvar lensflow-lens-mode)             ; defined below
(defvar lensflow-pending 0
  "Commands sent whose answer has not come yet.")

;;;; The server: a subclass of eglot's, so that its commands and notifications are ours

(defclass lensflow-eglot-server (eglot-lsp-server) ()
  :documentation "Lensflow, as eglot sees it.")

(defun lensflow--contact (&optional _interactive)
  "The contact `eglot-server-programs' uses, read when the server starts."
  (if lensflow-tcp
      `(lensflow-eglot-server ,@lensflow-tcp)
    `(lensflow-eglot-server ,@lensflow-server-command
                            :initializationOptions ,lensflow-settings)))

(defun lensflow--token ()
  "The TCP server's token, from its token file."
  (let* ((state (getenv "XDG_STATE_HOME"))
         (file (or lensflow-token-file
                   (expand-file-name "lensflow/tcp-token"
                                     (if (and state (file-name-absolute-p state))
                                         state
                                       "~/.local/state")))))
    (unless (file-readable-p file)
      (error "Lensflow: no token file %s: start the server (lensflow --tcp ...) first" file))
    (with-temp-buffer
      (insert-file-contents file)
      (string-trim (buffer-string)))))

;; eglot's TCP contact takes no :initializationOptions: they come from here, with the token
;; (in initialize only; the `lensflow' settings section below goes without it).
(cl-defmethod eglot-initialization-options ((_server lensflow-eglot-server))
  (if lensflow-tcp
      (append (list :token (lensflow--token)) lensflow-settings)
    lensflow-settings))

(add-to-list 'eglot-server-programs (cons lensflow-major-modes #'lensflow--contact))

(defun lensflow--send-settings (server)
  "Send SERVER Lensflow's settings after eglot's didChangeConfiguration.
eglot sends `eglot-workspace-configuration' on connection, `{}' when
it is unset, and the server would read `{}' as \"all defaults\",
dropping the initializationOptions."
  (when (cl-typep server 'lensflow-eglot-server)
    (jsonrpc-notify server :workspace/didChangeConfiguration
                    (list :settings (list :lensflow lensflow-settings)))))
(add-hook 'eglot-connect-hook #'lensflow--send-settings 90)

;;;; Output and results

(defun lensflow--output-buffer ()
  (or (get-buffer "*lensflow*")
      (with-current-buffer (get-buffer-create "*lensflow*")
        (special-mode)
        (current-buffer))))

(defun lensflow--append (text &optional face)
  "Append TEXT to *lensflow*, and show that buffer."
  (with-current-buffer (lensflow--output-buffer)
    (let ((inhibit-read-only t))
      (goto-char (point-max))
      (insert (if face (propertize text 'face face) text))
      (dolist (window (get-buffer-window-list (current-buffer) nil t))
        (set-window-point window (point-max)))))
  (unless noninteractive
    (display-buffer (lensflow--output-buffer))))

(defun lensflow--json (value)
  "VALUE (a plist from jsonrpc) as indented JSON."
  (with-temp-buffer
    (insert (let ((json-encoding-pretty-print t)) (json-encode value)))
    (buffer-string)))

(defun lensflow--summary (command result)
  (if (and (plist-get result :runId) (plist-get result :status))
      (format "Lensflow: run %s %s %s" (substring (plist-get result :runId) 0 8)
              (plist-get result :status)
              (mapconcat (lambda (pair) (format "%s=%.6g" (substring (symbol-name (car pair)) 1)
                                                (cdr pair)))
                         (cl-loop for (k v) on (plist-get result :metrics) by #'cddr
                                  collect (cons k v))
                         " "))
    (format "Lensflow: %s done" command)))

(defun lensflow--execute (server command argument &optional buffer)
  "Run COMMAND (a string) with ARGUMENT (a plist) on SERVER; don't block.
The result goes to *lensflow*, a summary to the echo area; BUFFER's
lenses are refreshed."
  (cl-incf lensflow-pending)
  (setq lensflow-last-error nil)
  (lensflow--append (format "== %s %s\n" command (if argument (json-encode argument) "{}")))
  (jsonrpc-async-request
   server :workspace/executeCommand
   (list :command command :arguments (vector (or argument (make-hash-table))))
   :timeout lensflow-command-timeout
   :success-fn (lambda (result)
                 (cl-decf lensflow-pending)
                 (setq lensflow-last-result result)
                 (lensflow--append (concat (lensflow--json result) "\n"))
                 (message "%s" (lensflow--summary command result))
                 (when (buffer-live-p buffer)
                   (with-current-buffer buffer
                     (when lensflow-lens-mode (lensflow-show-lenses)))))
   :error-fn (jsonrpc-lambda (&key code message data &allow-other-keys)
               (cl-decf lensflow-pending)
               (setq lensflow-last-error (list :code code :message message :data data))
               (lensflow--append (format "error %s: %s\n%s\n" code message
                                         (if data (lensflow--json data) ""))
                                 'error)
               (message "Lensflow %s failed: %s" command message))
   :timeout-fn (lambda ()
                 (cl-decf lensflow-pending)
                 (setq lensflow-last-error (list :message "timed out"))
                 (message "Lensflow %s: no answer after %s s" command lensflow-command-timeout))))

;; Code actions and lenses run their commands through eglot: send Lensflow's through
;; `lensflow--execute' (eglot's own way blocks Emacs for the whole run, gives up after
;; 10 s, and drops the result).
(cl-defmethod eglot-execute-command ((server lensflow-eglot-server) command arguments)
  "eglot up to 1.16 (Emacs 28, 29): run COMMAND with ARGUMENTS."
  (let ((name (format "%s" command)))
    (if (string-prefix-p "lensflow." name)
        (lensflow--execute server name (and (> (length arguments) 0) (elt arguments 0))
                           (current-buffer))
      (cl-call-next-method))))

(when (fboundp 'eglot-execute)          ; eglot 1.17+ (Emacs 30): code actions go here
  (cl-defmethod eglot-execute ((server lensflow-eglot-server) action)
    (let ((command (plist-get action :command)) (arguments (plist-get action :arguments)))
      (if (and (stringp command) (string-prefix-p "lensflow." command))
          (lensflow--execute server command (and (> (length arguments) 0) (elt arguments 0))
                             (current-buffer))
        (cl-call-next-method)))))

;; Lensflow's notifications.
(cl-defmethod eglot-handle-notification
  ((_server lensflow-eglot-server) (_method (eql lensflow/runOutput)) &key stream text
   &allow-other-keys)
  "A training script's output, as it runs."
  (lensflow--append text (and (equal stream "stderr") 'warning)))

(cl-defmethod eglot-handle-notification
  ((_server lensflow-eglot-server) (_method (eql lensflow/runUpdated)) &key runId status
   &allow-other-keys)
  (lensflow--append (format "run %s is %s\n" (substring runId 0 8) status)))

(cl-defmethod eglot-handle-notification
  ((_server lensflow-eglot-server) (_method (eql lensflow/serviceUpdated)) &key serviceName state
   &allow-other-keys)
  (message "Lensflow: service %s is %s" serviceName state))

(cl-defmethod eglot-handle-notification
  ((_server lensflow-eglot-server) (_method (eql lensflow/clusterUpdated)) &key name state
   &allow-other-keys)
  (message "Lensflow: cluster %s is %s" name state))

(cl-defmethod eglot-handle-notification
  ((_server lensflow-eglot-server) (_method (eql lensflow/workspaceChanged)) &key name kind
   &allow-other-keys)
  (message "Lensflow: workspace %s (%s)" name kind))

;;;; Commands

(defun lensflow--server ()
  (let ((server (eglot--current-server-or-lose)))
    (unless (cl-typep server 'lensflow-eglot-server)
      (user-error "This buffer's server is not Lensflow (see `eglot-server-programs')"))
    server))

(defun lensflow-command (command argument)
  "Run Lensflow's COMMAND with ARGUMENT, a JSON object.
Interactively, ARGUMENT is read as JSON text."
  (interactive
   (let* ((server (lensflow--server))
          (provider (plist-get (eglot--capabilities server) :executeCommandProvider))
          (names (append (plist-get provider :commands) nil)))
     (list (completing-read "Lensflow command: " names nil t "lensflow.")
           (let ((json-object-type 'plist) (json-array-type 'vector) (json-key-type 'keyword))
             (json-read-from-string (read-string "Argument (JSON object): " "{}"))))))
  (lensflow--execute (lensflow--server) command argument (current-buffer)))

(defun lensflow-track-run (&optional script)
  "Track SCRIPT (default: this buffer's file, saved first) as an MLflow run.
The run's output and its result (status, params, metrics, artifacts)
go to *lensflow*."
  (interactive)
  (let ((server (lensflow--server)))
    (unless script
      (unless buffer-file-name (user-error "This buffer has no file"))
      (when (buffer-modified-p) (save-buffer))
      (setq script buffer-file-name))
    (lensflow--execute server "lensflow.trackRun" (list :script script) (current-buffer))))

;;;; Lenses: eglot has no code lens UI; show them as lines of text above their lines

(defvar-local lensflow--lenses nil "The buffer's lenses, as the server sent them.")
(defvar-local lensflow--lens-timer nil)

(defun lensflow--lens-title (lens)
  (let ((command (plist-get lens :command)))
    (if command (plist-get command :title) "…")))

(defun lensflow--draw-lenses (buffer lenses)
  (when (buffer-live-p buffer)
    (with-current-buffer buffer
      (remove-overlays (point-min) (point-max) 'lensflow-lens t)
      (let ((by-line (make-hash-table)))
        (dolist (lens lenses)
          (let ((line (plist-get (plist-get (plist-get lens :range) :start) :line)))
            (puthash line (append (gethash line by-line) (list lens)) by-line)))
        (save-excursion
          (maphash
           (lambda (line line-lenses)
             (goto-char (point-min))
             (forward-line line)
             (let ((overlay (make-overlay (point) (point)))
                   (indent (make-string (current-indentation) ?\s)))
               (overlay-put overlay 'lensflow-lens t)
               (overlay-put overlay 'lensflow-lenses line-lenses)
               (overlay-put overlay 'before-string
                            (concat indent
                                    (propertize (mapconcat #'lensflow--lens-title line-lenses " | ")
                                                'face 'lensflow-lens-face)
                                    "\n"))))
           by-line))))))

(defun lensflow-show-lenses ()
  "Ask for this buffer's code lenses, resolve them, show them above their lines."
  (interactive)
  (let ((server (lensflow--server)) (buffer (current-buffer)))
    (when (fboundp 'eglot--signal-textDocument/didChange)
      (eglot--signal-textDocument/didChange)) ; the server must see the current text
    (jsonrpc-async-request
     server :textDocument/codeLens (list :textDocument (eglot--TextDocumentIdentifier))
     :success-fn
     (lambda (lenses)
       (let* ((lenses (append lenses nil))
              (left (cl-count-if-not (lambda (l) (plist-get l :command)) lenses))
              (done (lambda ()
                      (when (buffer-live-p buffer)
                        (with-current-buffer buffer (setq lensflow--lenses lenses)))
                      (lensflow--draw-lenses buffer lenses))))
         (if (zerop left)
             (funcall done)
           (dolist (lens lenses)
             (unless (plist-get lens :command)
               (jsonrpc-async-request
                server :codeLens/resolve lens
                :success-fn (lambda (resolved)
                              (setcdr lens (cdr resolved)) ; keep the list's identity
                              (setcar lens (car resolved))
                              (when (zerop (cl-decf left)) (funcall done)))
                :error-fn (lambda (&rest _)
                            (when (zerop (cl-decf left)) (funcall done)))))))))
     :error-fn (jsonrpc-lambda (&key message &allow-other-keys)
                 (message "Lensflow lenses: %s" message)))))

(defun lensflow-lens-titles ()
  "The titles of the lenses last shown, as (LINE . TITLE), LINE counted from 1."
  (sort (mapcar (lambda (lens)
                  (cons (1+ (plist-get (plist-get (plist-get lens :range) :start) :line))
                        (lensflow--lens-title lens)))
                lensflow--lenses)
        (lambda (a b) (or (< (car a) (car b))
                          (and (= (car a) (car b)) (string< (cdr a) (cdr b)))))))

(defun lensflow-run-lens ()
  "Run a code lens of the current line (asks which, if there are several)."
  (interactive)
  (let* ((line (1- (line-number-at-pos)))
         (lenses (cl-remove-if-not
                  (lambda (lens)
                    (and (= line (plist-get (plist-get (plist-get lens :range) :start) :line))
                         (let ((c (plist-get lens :command)))
                           (and c (not (string-empty-p (plist-get c :command)))))))
                  lensflow--lenses))
         (titles (mapcar (lambda (l) (cons (lensflow--lens-title l) l)) lenses))
         (lens (cond ((null lenses) (user-error "No lens to run on this line"))
                     ((null (cdr lenses)) (car lenses))
                     (t (cdr (assoc (completing-read "Lens: " titles nil t) titles)))))
         (command (plist-get lens :command))
         (arguments (plist-get command :arguments)))
    (lensflow--execute (lensflow--server) (plist-get command :command)
                       (and (> (length arguments) 0) (elt arguments 0)) (current-buffer))))

(defun lensflow--schedule-lenses (&rest _)
  (when lensflow--lens-timer (cancel-timer lensflow--lens-timer))
  (let ((buffer (current-buffer)))
    (setq lensflow--lens-timer
          (run-with-idle-timer 0.5 nil (lambda ()
                                         (when (buffer-live-p buffer)
                                           (with-current-buffer buffer
                                             (when (and lensflow-lens-mode (eglot-current-server))
                                               (lensflow-show-lenses)))))))))

(defvar lensflow-lens-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c l t") #'lensflow-track-run)
    (define-key map (kbd "C-c l a") #'eglot-code-actions)
    (define-key map (kbd "C-c l s") #'lensflow-show-lenses)
    (define-key map (kbd "C-c l l") #'lensflow-run-lens)
    (define-key map (kbd "C-c l c") #'lensflow-command)
    map))

(define-minor-mode lensflow-lens-mode
  "Show Lensflow's code lenses above their lines, kept up to date while editing."
  :lighter " Lens"
  (if lensflow-lens-mode
      (progn (add-hook 'after-change-functions #'lensflow--schedule-lenses nil t)
             (add-hook 'after-save-hook #'lensflow--schedule-lenses nil t)
             (lensflow--schedule-lenses))
    (remove-hook 'after-change-functions #'lensflow--schedule-lenses t)
    (remove-hook 'after-save-hook #'lensflow--schedule-lenses t)
    (remove-overlays (point-min) (point-max) 'lensflow-lens t)))

(defun lensflow--maybe-lens-mode ()
  "In buffers that Lensflow manages, turn `lensflow-lens-mode' on (off with eglot)."
  (let ((server (eglot-current-server)))
    (lensflow-lens-mode (if (and eglot--managed-mode (cl-typep server 'lensflow-eglot-server))
                            1 -1))))
(add-hook 'eglot-managed-mode-hook #'lensflow--maybe-lens-mode)

(provide 'lensflow)
;;; lensflow.el ends here
