;;; try.el --- a headless trial of lensflow.el, as a new user would try it  -*- lexical-binding: t; -*-

;; LENSFLOW_PYTHON=/path/to/venv/bin/python LENSFLOW_TRIAL_OUT=/tmp/out \
;;   emacs --batch -l client-sample/editors/emacs/try.el /tmp/project/train.py
;;
;; Opens the script in python-mode with eglot (as `(add-hook 'python-mode-hook #'eglot-ensure)'
;; does), lists the code actions at `with mlflow.start_run', shows the lenses, runs
;; `lensflow-track-run', then picks "Lensflow: Track run" from `eglot-code-actions' as a user
;; would, and reads the lenses again.  Writes to $LENSFLOW_TRIAL_OUT: versions.txt,
;; code-actions.txt, lenses.txt, result.json, action-result.json, lenses-after.txt,
;; workspace.json, output.txt (*lensflow*), messages.txt, and error.txt if a step failed
;; (Emacs then exits with status 1).

;;; Code:

(require 'cl-lib)
(defvar try-out (or (getenv "LENSFLOW_TRIAL_OUT") (error "Set LENSFLOW_TRIAL_OUT to a folder")))
(defvar try-script (car command-line-args-left))
(setq command-line-args-left nil)       ; the script is opened below, not by `command-line'
(defvar try-timeout (string-to-number (or (getenv "LENSFLOW_TRIAL_TIMEOUT") "150")))
(make-directory try-out t)

(defun try-write (name text)
  (with-temp-file (expand-file-name name try-out)
    (insert (if (stringp text) text (mapconcat #'identity text "\n")) "\n")))

(defun try-wait (what predicate &optional seconds)
  (let ((deadline (+ (float-time) (or seconds try-timeout))))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (error "Timed out waiting for %s" what))
      (accept-process-output nil 0.05))))

;; What a user's init file would hold.
(setq lensflow-server-command (list (or (getenv "LENSFLOW_PYTHON") "python3") "-m" "lensflow"))
(defvar try-home (expand-file-name ".lensflow-emacs" (file-name-directory try-script)))
(setq lensflow-settings (list :workspace "local" :home try-home))
;; LENSFLOW_TRIAL_TCP=127.0.0.1:PORT: a server started with `--tcp' (and
;; LENSFLOW_TRIAL_TOKEN_FILE, its --token-file), instead of one over stdio.
(let ((tcp (getenv "LENSFLOW_TRIAL_TCP")))
  (when tcp
    (string-match "\\`\\(.*\\):\\([0-9]+\\)\\'" tcp)
    (setq lensflow-tcp (list (match-string 1 tcp) (string-to-number (match-string 2 tcp))))
    (setq lensflow-token-file (getenv "LENSFLOW_TRIAL_TOKEN_FILE"))))
(load (expand-file-name "lensflow.el" (file-name-directory load-file-name)) nil t)
(add-hook 'python-mode-hook #'eglot-ensure)

(defun try-lens-lines ()
  (mapcar (lambda (pair) (format "line %d: %s" (car pair) (cdr pair))) (lensflow-lens-titles)))

(defun try-read-lenses (must-contain)
  "Show the lenses, wait until they are resolved and one title contains MUST-CONTAIN."
  (let ((lines nil))
    (try-wait (format "lenses with %S" must-contain)
              (lambda ()
                (setq lensflow--lenses nil)
                (lensflow-show-lenses)
                (try-wait "lenses" (lambda () lensflow--lenses) 30)
                (setq lines (try-lens-lines))
                (cl-some (lambda (l) (string-search must-contain l)) lines))
              60)
    lines))

(defun try-overlay-text ()
  "The lens lines as the buffer shows them (overlays' before-strings)."
  (let (texts)
    (dolist (overlay (overlays-in (point-min) (point-max)))
      (when (overlay-get overlay 'lensflow-lens)
        (push (format "line %d: %s" (line-number-at-pos (overlay-start overlay))
                      (string-trim (overlay-get overlay 'before-string)))
              texts)))
    (sort texts #'string<)))

(defun try-wait-result (what)
  (try-wait what (lambda () (and (zerop lensflow-pending)
                                 (or lensflow-last-result lensflow-last-error))))
  (when lensflow-last-error
    (error "%s failed: %S" what lensflow-last-error))
  lensflow-last-result)

(defun try-trial ()
  (try-write "versions.txt"
             (list (format "emacs %s" emacs-version)
                   (format "eglot %s" (or (ignore-errors
                                            (with-temp-buffer
                                              (insert-file-contents (locate-library "eglot.el"))
                                              (and (re-search-forward "^;; Version: \\(.*\\)$" nil t)
                                                   (match-string 1))))
                                          "?"))
                   (format "eglot from %s" (locate-library "eglot"))))
  (find-file try-script)
  (unless (derived-mode-p 'python-mode) (error "Not in python-mode: %s" major-mode))
  ;; eglot-ensure connects after the next command: this is that command's end.
  (run-hooks 'post-command-hook)
  (try-wait "eglot to connect" (lambda () (and (eglot-current-server) eglot--managed-mode)) 60)
  (unless (cl-typep (eglot-current-server) 'lensflow-eglot-server)
    (error "The server is not Lensflow: %S" (eglot-current-server)))

  ;; Code actions at the `with mlflow.start_run' line.
  (goto-char (point-min))
  (re-search-forward "^with mlflow.start_run")
  (beginning-of-line)
  (let ((actions (eglot-code-actions (point) (line-end-position))))
    (try-write "code-actions.txt" (mapcar (lambda (a) (plist-get a :title)) actions)))

  (try-write "lenses.txt" (try-read-lenses "Track run"))
  (try-write "lenses-shown.txt" (try-overlay-text))

  (setq lensflow-last-result nil)
  (lensflow-track-run)
  (try-write "result.json" (json-encode (try-wait-result "lensflow-track-run")))

  ;; The code action, picked from eglot's menu as a keyboard user would (C-c l a, then the title).
  (setq lensflow-last-result nil)
  (let ((last-nonmenu-event ?\r))
    (cl-letf (((symbol-function 'completing-read)
               (lambda (_prompt collection &rest _)
                 (or (cl-find "Lensflow: Track run" (all-completions "" collection)
                              :test #'string=)
                     (error "No \"Lensflow: Track run\" among %S"
                            (all-completions "" collection))))))
      (call-interactively #'eglot-code-actions)))
  (try-write "action-result.json" (json-encode (try-wait-result "the Track run code action")))

  (try-write "lenses-after.txt" (try-read-lenses "Last run:"))
  (let ((actions (eglot-code-actions (point) (line-end-position))))
    (try-write "code-actions-after.txt" (mapcar (lambda (a) (plist-get a :title)) actions)))

  (setq lensflow-last-result nil)
  (lensflow-command "lensflow.getWorkspace" nil)
  (try-write "workspace.json" (json-encode (try-wait-result "getWorkspace")))

  (try-write "output.txt" (with-current-buffer (lensflow--output-buffer) (buffer-string)))
  (eglot-shutdown (eglot-current-server)))

(let ((status 0))
  (condition-case err
      (try-trial)
    (error (setq status 1)
           (try-write "error.txt" (format "%S" err))))
  (try-write "messages.txt" (with-current-buffer "*Messages*" (buffer-string)))
  (kill-emacs status))

;;; try.el ends here
