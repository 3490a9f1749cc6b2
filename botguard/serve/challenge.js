// botguard challenge: find COUNTER so that SHA-256("CHALLENGE:COUNTER") starts with DIFFICULTY
// zero bits, send it to /.botguard/verify (which sets the pass cookies), then go back to the page.
// Web Crypto when the page is a secure context (https, localhost); a plain-JS SHA-256 otherwise,
// since crypto.subtle is missing on plain http.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("bg-data").textContent);
  var statusEl = document.getElementById("bg-status");
  var bar = document.getElementById("bg-progress");
  var expected = Math.pow(2, data.difficulty);
  var prefix = data.challenge + ":";

  function say(text) { statusEl.textContent = text; }
  function progress(tried) { bar.value = Math.min(0.99, tried / (expected * 2)); }

  function enough(bytes) {
    var need = data.difficulty;
    for (var i = 0; need > 0; i++) {
      var b = bytes[i];
      if (need >= 8) { if (b !== 0) { return false; } need -= 8; }
      else { return (b >> (8 - need)) === 0; }
    }
    return true;
  }

  // ---- plain-JS SHA-256 over an ASCII string (FIPS 180-4)
  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  var W = new Int32Array(64);
  var H = new Int32Array(8);

  function sha256(text) {
    var n = text.length, blocks = ((n + 9 + 63) >> 6), words = new Int32Array(blocks * 16), i;
    for (i = 0; i < n; i++) { words[i >> 2] |= text.charCodeAt(i) << (24 - (i & 3) * 8); }
    words[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
    words[blocks * 16 - 1] = n * 8;
    H[0] = 0x6a09e667; H[1] = 0xbb67ae85; H[2] = 0x3c6ef372; H[3] = 0xa54ff53a;
    H[4] = 0x510e527f; H[5] = 0x9b05688c; H[6] = 0x1f83d9ab; H[7] = 0x5be0cd19;
    for (var off = 0; off < words.length; off += 16) {
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7], t1, t2, x, y;
      for (i = 0; i < 64; i++) {
        if (i < 16) { W[i] = words[off + i]; }
        else {
          x = W[i - 15]; y = W[i - 2];
          W[i] = (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
                 (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[i - 7] + W[i - 16] | 0;
        }
        t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
             ((e & f) ^ (~e & g)) + K[i] + W[i] | 0;
        t2 = (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
             ((a & b) ^ (a & c) ^ (b & c)) | 0;
        h = g; g = f; f = e; e = d + t1 | 0; d = c; c = b; b = a; a = t1 + t2 | 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    return new Uint8Array([H[0] >>> 24, (H[0] >>> 16) & 255, (H[0] >>> 8) & 255, H[0] & 255,
                           H[1] >>> 24, (H[1] >>> 16) & 255, (H[1] >>> 8) & 255, H[1] & 255]);
  }

  function solvePlain(done) {
    var counter = 0;
    (function chunk() {
      var stop = counter + 20000;
      for (; counter < stop; counter++) {
        if (enough(sha256(prefix + counter))) { done(String(counter), "js"); return; }
      }
      progress(counter);
      setTimeout(chunk, 0);
    })();
  }

  function solveSubtle(done) {
    var encoder = new TextEncoder(), next = 0, batch = 2048;  // many digests in flight: ~1.3x faster
    (function round() {
      var start = next, jobs = [];
      for (var i = 0; i < batch; i++) {
        jobs.push(crypto.subtle.digest("SHA-256", encoder.encode(prefix + (start + i))));
      }
      next += batch;
      Promise.all(jobs).then(function (digests) {
        for (var j = 0; j < digests.length; j++) {
          if (enough(new Uint8Array(digests[j]))) { done(String(start + j), "subtle"); return; }
        }
        progress(next);
        round();
      }, function () { solvePlain(done); });
    })();
  }

  // A 5xx or a network error means the check service is busy or down: try twice more, then open
  // the page anyway (the web server lets visitors through while the service is down).
  function send(counter, how, attempt) {
    attempt = attempt || 1;
    say("Done. Opening the page\u2026");
    bar.value = 1;
    function again() {
      if (attempt < 3) { setTimeout(function () { send(counter, how, attempt + 1); }, 1000); }
      else { window.location.replace(data.back); }
    }
    fetch("/.botguard/verify", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({challenge: data.challenge, counter: counter})
    }).then(function (response) {
      if (response.ok) { window.location.replace(data.back); }
      else if (response.status >= 500) { again(); }
      else { say("The check did not succeed (" + response.status + "). Please reload the page to try again."); }
    }, again);
  }

  say("Checking your browser\u2026");
  if (window.isSecureContext && window.crypto && crypto.subtle && window.TextEncoder) { solveSubtle(send); }
  else { solvePlain(send); }
})();
