/* The click-to-call widget: <script src="https://PLATFORM/widget.js" data-key="KEY" async></script>
 * renders a small form after itself (or inside the element named by data-target), in a shadow root so that
 * the host page's styles and the widget's do not mix. The visitor types their number; the platform asks
 * for a proof-of-work (solved here) and/or a code it texts to them, then calls them back and connects the
 * operator. No cookies, no secrets: the key only names the widget, whose allowed origins the platform checks.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch) { return; }
  var key = script.getAttribute("data-key") || "";
  var api = new URL(script.src).origin + "/widget/" + encodeURIComponent(key);
  var title = script.getAttribute("data-title") || "Talk to us now";
  var host = document.createElement("div");
  host.className = "callback-widget";
  var target = script.getAttribute("data-target");
  var into = target && document.getElementById(target);
  if (into) { into.appendChild(host); } else { script.parentNode.insertBefore(host, script.nextSibling); }
  var root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".box{font:15px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1c2430;background:#fff;" +
    "border:1px solid #d5dbe3;border-radius:12px;padding:16px 18px;max-width:320px;box-shadow:0 4px 14px rgba(0,0,0,.08)}" +
    "h2{font-size:17px;margin:0 0 4px}p{margin:0 0 10px;color:#4a5566;font-size:13px}" +
    "label{display:block;font-size:13px;font-weight:600;margin:8px 0 4px}" +
    "input{box-sizing:border-box;width:100%;font:inherit;padding:8px 10px;border:1px solid #b8c2cf;border-radius:8px}" +
    "button{margin-top:10px;width:100%;font:inherit;font-weight:600;padding:9px;border:0;border-radius:8px;" +
    "background:#1b6ef3;color:#fff;cursor:pointer}button[disabled]{opacity:.6;cursor:default}" +
    ".status{margin-top:10px;font-size:14px;min-height:1.4em}.status.error{color:#b3261e}" +
    "[hidden]{display:none!important}" +
    "</style>" +
    "<div class='box'><h2></h2><p>Type your number: we call you straight back and put you through.</p>" +
    "<form class='number'><label for='cbw-number'>Your phone number</label>" +
    "<input id='cbw-number' name='number' type='tel' autocomplete='tel' maxlength='40' required>" +
    "<button type='submit'>Call me</button></form>" +
    "<form class='code' hidden><label for='cbw-code'>Code we texted you</label>" +
    "<input id='cbw-code' name='code' inputmode='numeric' autocomplete='one-time-code' maxlength='12' required>" +
    "<button type='submit'>Confirm</button></form>" +
    "<div class='status' role='status' aria-live='polite'></div></div>";
  root.querySelector("h2").textContent = title;
  var numberForm = root.querySelector("form.number");
  var codeForm = root.querySelector("form.code");
  var statusLine = root.querySelector(".status");
  var token = null;
  var MESSAGES = {
    code_sent: "We texted you a code: type it below.",
    queued: "Call queued: we are calling you in a moment.",
    calling: "Calling you now: answer, then press 1.",
    connected: "You are connected.",
    completed: "Call ended. Thank you!",
    failed: "The call could not be made. Please try again later."
  };

  function say(text, error) {
    statusLine.textContent = text;
    statusLine.className = "status" + (error ? " error" : "");
  }

  function call(method, path, body) {
    var options = {method: method, mode: "cors", credentials: "omit", cache: "no-store"};
    if (body) { options.headers = {"Content-Type": "application/json"}; options.body = JSON.stringify(body); }
    // A refused origin gets no CORS headers, so the browser shows the script a network error, not the answer.
    return fetch(api + path, options).catch(function () {
      throw new Error("The call service cannot be reached from this page.");
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var message = (data.error && data.error.message) || "Something went wrong; please try again.";
          throw new Error(message.charAt(0).toUpperCase() + message.slice(1) + ".");
        }
        return data;
      });
    });
  }

  function zeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { bits += 8; continue; }
      return bits + Math.clz32(bytes[i]) - 24;
    }
    return bits;
  }

  // The proof-of-work: a counter whose SHA-256 of "challenge:counter" starts with `bits` zero bits.
  function solve(pow) {
    var encoder = new TextEncoder();
    var batch = 256;
    function from(start) {
      var digests = [];
      for (var n = start; n < start + batch; n++) {
        digests.push(crypto.subtle.digest("SHA-256", encoder.encode(pow.challenge + ":" + n)));
      }
      return Promise.all(digests).then(function (results) {
        for (var i = 0; i < results.length; i++) {
          if (zeroBits(new Uint8Array(results[i])) >= pow.bits) { return String(start + i); }
        }
        return from(start + batch);
      });
    }
    return from(0);
  }

  function poll(rounds) {
    if (!token || rounds <= 0) { return; }
    setTimeout(function () {
      call("GET", "/visits/" + token).then(function (data) {
        say(MESSAGES[data.status] || "", data.status === "failed");
        if (data.status !== "completed" && data.status !== "failed") { poll(rounds - 1); }
      }, function () { poll(rounds - 1); });
    }, 2000);
  }

  function shown(data) {
    token = data.token || token;
    say(MESSAGES[data.status] || "");
    if (data.status === "code_sent") {
      codeForm.hidden = false;
      codeForm.querySelector("input").focus();
    } else {
      codeForm.hidden = true;
      poll(150);
    }
  }

  function busy(form, on) { form.querySelector("button").disabled = on; }

  numberForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var number = numberForm.querySelector("input").value;
    busy(numberForm, true);
    say("One moment…");
    call("GET", "/challenge").then(function (how) {
      if (!how.pow) { return {number: number}; }
      return solve(how.pow).then(function (solution) {
        return {number: number, challenge: how.pow.challenge, solution: solution};
      });
    }).then(function (body) {
      return call("POST", "/visits", body);
    }).then(shown, function (error) {
      say(error.message, true);
    }).then(function () { busy(numberForm, false); });
  });

  codeForm.addEventListener("submit", function (event) {
    event.preventDefault();
    busy(codeForm, true);
    call("POST", "/visits/" + token + "/code", {code: codeForm.querySelector("input").value})
      .then(shown, function (error) { say(error.message, true); })
      .then(function () { busy(codeForm, false); });
  });
})();
