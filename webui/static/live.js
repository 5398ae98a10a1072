// Live page: event stream (SSE) -> view name, quality bar, guidance, protocol; tone and alarm with WebAudio.
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var audio = null, soundOn = false, lastAlarmAt = 0;
  var ARROWS = { rotate_cw: '↻', rotate_ccw: '↺', tilt_up: '⤒', tilt_down: '⤓', rock_left: '↶', rock_right: '↷',
                 slide_apex: '⇣', slide_base: '⇡', more_depth: '⊕', less_depth: '⊖', hold: '✋' };

  function beep(freq, ms, type) {
    if (!soundOn) { return; }
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.type = type || 'sine'; o.frequency.value = freq; g.gain.value = 0.2;
      o.connect(g); g.connect(audio.destination); o.start(); o.stop(audio.currentTime + ms / 1000);
    } catch (e) { /* no audio device: the banner still shows */ }
  }
  function tone() { beep(880, 180); setTimeout(function () { beep(1320, 220); }, 200); }
  function alarm() { var now = Date.now(); if (now - lastAlarmAt < 2500) { return; } lastAlarmAt = now; beep(440, 250, 'square'); setTimeout(function () { beep(330, 250, 'square'); }, 300); }

  function logEvent(text) {
    var li = document.createElement('li'); li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    var ul = $('event-log'); ul.insertBefore(li, ul.firstChild); while (ul.children.length > 30) { ul.removeChild(ul.lastChild); }
  }

  function setState(s) {
    document.body.dataset.frame = s.frame_index || 0;
    $('frame-counter').textContent = s.frame_index || 0;
    $('fps').textContent = (s.fps || 0).toFixed ? (s.fps || 0).toFixed(1) : s.fps;
    $('model-tag').textContent = s.model || '—';
    var banner = $('status-banner');
    var noSignal = !s.core_alive || s.status === 'no_signal';
    $('no-signal').classList.toggle('hidden', !noSignal);
    if (noSignal) { banner.className = 'banner nosignal'; banner.textContent = s.status_text || '—'; return; }
    $('view-name').textContent = s.view || '—';
    $('view-conf').textContent = s.confidence != null ? Math.round(s.confidence * 100) + '%' : '';
    var q = Math.max(0, Math.min(1, s.quality || 0));
    $('quality-bar').style.width = Math.round(q * 100) + '%';
    $('quality-num').textContent = q.toFixed(2);
    banner.className = 'banner ' + (s.status === 'standard' ? 'standard' : (s.status === 'alarm' ? 'alarm' : ''));
    banner.dataset.status = s.status || '';
    banner.textContent = s.status_text || '—';
    $('guidance-arrow').textContent = ARROWS[s.guidance] || '';
    $('guidance-text').textContent = s.guidance_text || '';
    var done = s.protocol_done || [], cur = s.protocol_current;
    document.querySelectorAll('#protocol-list li').forEach(function (li) {
      li.classList.toggle('done', done.indexOf(li.dataset.view) >= 0);
      li.classList.toggle('current', li.dataset.view === cur);
    });
    if (s.status === 'alarm') { alarm(); }
  }

  var es = new EventSource('/api/events');
  es.addEventListener('state', function (e) { setState(JSON.parse(e.data)); });
  ['standard_view', 'alarm', 'clip_saved', 'no_signal', 'alert'].forEach(function (kind) {
    es.addEventListener(kind, function (e) {
      var ev = JSON.parse(e.data); logEvent(ev.payload.text || kind);
      if (kind === 'standard_view') { tone(); }
    });
  });
  $('sound-toggle').addEventListener('click', function () {
    soundOn = !soundOn; var b = $('sound-toggle'); b.textContent = soundOn ? b.dataset.on : b.dataset.off;
    if (soundOn) { beep(660, 80); }
  });
  // The MJPEG stream ends after a few minutes by design: reconnect.
  var img = $('live-img');
  img.addEventListener('error', function () { setTimeout(function () { img.src = '/live/stream.mjpg?t=' + Date.now(); }, 1000); });
})();
