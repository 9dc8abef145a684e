"""The start-up peer: a bare pygls 2 server with no features, served over stdio."""

from pygls.lsp.server import LanguageServer

if __name__ == "__main__":
    LanguageServer("bare", "0").start_io()
