// Passkeys and security keys (WebAuthn): this file drives the buttons
// marked data-passkey on the login, code and two-factor pages. Every other
// part of those pages works without it. Served from /static/ (CSP:
// script-src 'self'); nothing here is inline.
//
// The server answers a begin step with the options of
// navigator.credentials.create or get ({"publicKey": ...}, binary fields
// base64url), and takes the browser's answer, as JSON with base64url
// fields, in the form field "response" of the finish step.
"use strict";
(function () {
	function toBuf(s) {
		s = s.replace(/-/g, "+").replace(/_/g, "/");
		while (s.length % 4) {
			s += "=";
		}
		var bin = atob(s);
		var out = new Uint8Array(bin.length);
		for (var i = 0; i < bin.length; i++) {
			out[i] = bin.charCodeAt(i);
		}
		return out.buffer;
	}
	function fromBuf(buf) {
		var bytes = new Uint8Array(buf);
		var bin = "";
		for (var i = 0; i < bytes.length; i++) {
			bin += String.fromCharCode(bytes[i]);
		}
		return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
	}
	function decodeList(list) {
		(list || []).forEach(function (c) {
			c.id = toBuf(c.id);
		});
	}
	function creationOptions(o) {
		var pk = o.publicKey;
		pk.challenge = toBuf(pk.challenge);
		pk.user.id = toBuf(pk.user.id);
		decodeList(pk.excludeCredentials);
		return { publicKey: pk };
	}
	function requestOptions(o) {
		var pk = o.publicKey;
		pk.challenge = toBuf(pk.challenge);
		decodeList(pk.allowCredentials);
		return { publicKey: pk };
	}
	function encode(cred) {
		var r = cred.response;
		var out = {
			id: cred.id,
			rawId: fromBuf(cred.rawId),
			type: cred.type,
			authenticatorAttachment: cred.authenticatorAttachment || undefined,
			clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
			response: { clientDataJSON: fromBuf(r.clientDataJSON) }
		};
		if (r.attestationObject) {
			out.response.attestationObject = fromBuf(r.attestationObject);
			if (r.getTransports) {
				out.response.transports = r.getTransports();
			}
		} else {
			out.response.authenticatorData = fromBuf(r.authenticatorData);
			out.response.signature = fromBuf(r.signature);
			if (r.userHandle && r.userHandle.byteLength) {
				out.response.userHandle = fromBuf(r.userHandle);
			}
		}
		return JSON.stringify(out);
	}
	function post(url, fields) {
		return fetch(url, {
			method: "POST",
			credentials: "same-origin",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams(fields || {}).toString()
		}).then(function (res) {
			return res.json().then(function (body) {
				if (!res.ok || body.status === 0) {
					throw new Error(body.message || "The request failed.");
				}
				return body;
			});
		});
	}
	function cancelled(err) {
		return err && (err.name === "NotAllowedError" || err.name === "AbortError");
	}
	document.addEventListener("DOMContentLoaded", function () {
		var buttons = document.querySelectorAll("button[data-passkey]");
		if (!buttons.length) {
			return;
		}
		var supported = window.PublicKeyCredential && navigator.credentials && window.isSecureContext;
		buttons.forEach(function (btn) {
			var status = document.getElementById(btn.getAttribute("data-status"));
			var say = function (msg) {
				if (status) {
					status.textContent = msg;
				}
			};
			if (!supported) {
				say("This browser cannot use passkeys here.");
				return;
			}
			btn.hidden = false;
			var kind = btn.getAttribute("data-passkey");
			btn.addEventListener("click", function () {
				var fields = {};
				if (kind === "register") {
					var name = document.getElementById(btn.getAttribute("data-name"));
					if (!name || !name.value.trim()) {
						say("Give the passkey a name first.");
						if (name) {
							name.focus();
						}
						return;
					}
					fields.name = name.value.trim();
				}
				// The proof a register step asks (the password or a code
				// typed next to the name, or an assertion of a passkey the
				// user has) goes with its begin request.
				var proof = {};
				(btn.getAttribute("data-proof") || "").split(" ").forEach(function (id) {
					var el = id && document.getElementById(id);
					if (el && el.value) {
						proof[el.name] = el.value;
					}
				});
				var assertURL = btn.getAttribute("data-assert");
				var proven = Promise.resolve();
				if (assertURL) {
					proven = post(assertURL).then(function (options) {
						return navigator.credentials.get(requestOptions(options));
					}).then(function (cred) {
						proof.assertion = encode(cred);
					});
				}
				btn.disabled = true;
				say("Waiting for your passkey…");
				proven.then(function () {
					return post(btn.getAttribute("data-begin"), proof);
				}).then(function (options) {
					if (kind === "register") {
						return navigator.credentials.create(creationOptions(options));
					}
					return navigator.credentials.get(requestOptions(options));
				}).then(function (cred) {
					fields.response = encode(cred);
					if (kind === "confirm-remove" || kind === "confirm") {
						var form = document.getElementById(btn.getAttribute("data-form"));
						form.querySelector("input[name=assertion]").value = fields.response;
						form.submit();
						return null;
					}
					if (kind === "passwordless" && btn.getAttribute("data-goto")) {
						fields.goto_uri = btn.getAttribute("data-goto");
					}
					return post(btn.getAttribute("data-finish"), fields);
				}).then(function (result) {
					if (result && result.redirect) {
						say("Done.");
						window.location.assign(result.redirect);
					}
				}).catch(function (err) {
					btn.disabled = false;
					if (cancelled(err)) {
						say("The passkey request was cancelled or timed out.");
					} else {
						say(err && err.message ? err.message : "The passkey was not accepted.");
					}
				});
			});
		});
	});
})();
