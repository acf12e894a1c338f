// cpauth pages work without this file; it only adds a copy button for a
// new API token. Served from /static/ (CSP: script-src 'self').
"use strict";
// A page behind a session that the browser restores from its back/forward
// cache was not fetched again: fetch it, so that after a logout Back shows
// the login page rather than a copy of a private page. (The server also
// sends no-store, and Clear-Site-Data when logging out.)
window.addEventListener("pageshow", function (ev) {
	if (ev.persisted && document.querySelector("header.top")) {
		window.location.reload();
	}
});
document.addEventListener("DOMContentLoaded", function () {
	document.querySelectorAll("button[data-copy]").forEach(function (btn) {
		var target = document.getElementById(btn.getAttribute("data-copy"));
		var status = document.getElementById("copy-status");
		if (!target) {
			return;
		}
		btn.hidden = false;
		btn.addEventListener("click", function () {
			var text = target.textContent.trim();
			var say = function (msg) {
				if (status) {
					status.textContent = msg;
				}
			};
			var select = function () {
				var range = document.createRange();
				range.selectNodeContents(target);
				var sel = window.getSelection();
				sel.removeAllRanges();
				sel.addRange(range);
			};
			if (navigator.clipboard && window.isSecureContext) {
				navigator.clipboard.writeText(text).then(function () {
					btn.textContent = "Copied";
					say("The token is on the clipboard.");
				}, function () {
					select();
					say("Copying is not allowed here: the token is selected, press Ctrl+C (or ⌘C).");
				});
			} else {
				select();
				var ok = false;
				try {
					ok = document.execCommand("copy");
				} catch (e) {
					ok = false;
				}
				if (ok) {
					btn.textContent = "Copied";
					say("The token is on the clipboard.");
				} else {
					say("The token is selected: press Ctrl+C (or ⌘C) to copy it.");
				}
			}
		});
	});
});
