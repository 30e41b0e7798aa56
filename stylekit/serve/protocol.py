"""The HTTP connection the server runs: uvicorn's h11 one, with its own error answer in JSON.

A request that h11 cannot parse (a negative Content-Length, a broken request line) never
reaches the app: uvicorn answers it with a plain-text 400. Every other error the server gives
is JSON {"error": "..."} (`app`), and a client reading that shape gets it here too.
"""
from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

UNPARSABLE = "the request is not valid HTTP/1.1 (its request line or headers cannot be read)"


class JSONErrorsH11(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": UNPARSABLE}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
