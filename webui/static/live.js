// Live page: event stream (SSE) -> view name, quality bar, guidance arrow, protocol; tone and alarm with WebAudio.
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var lang = document.body.dataset.lang || 'en';
  var zh = lang === 'zh-CN';
  var audio = null, soundOn = false;
  var ARROWS = { 'dot': '●', 'rotate-cw': '↻', 'rotate-ccw': '↺', 'up': '↑', 'down': '↓', 'right': '→', 'left': '←',
                 'slide-apex': '⇣', 'slide-base': '⇡', 'depth-plus': '⊕', 'depth-minus': '⊖' };
  var STATUS = { standard: ['standard', 'status_standard'], holding: ['holding', 'status_holding'],
                 searching: ['alarm', 'status_searching'], not_echo: ['nosignal', 'status_not_echo'],
                 uncertain: ['nosignal', 'status_uncertain'], no_signal: ['nosignal', 'status_no_signal'],
                 no_model: ['nosignal', ''] };
  var L = JSON.parse($('live-strings').textContent);

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
  function alarm() { beep(440, 250, 'square'); setTimeout(function () { beep(330, 250, 'square'); }, 300); }

  function logEvent(kind, text) {
    var li = document.createElement('li'); li.dataset.kind = kind;
    li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    var ul = $('event-log'); ul.insertBefore(li, ul.firstChild); while (ul.children.length > 30) { ul.removeChild(ul.lastChild); }
  }

  function setProtocol(items, target) {
    var ol = $('protocol-list');
    if (!items || !items.length) { return; }
    var complete = items.every(function (it) { return it.captured; });
    $('protocol-complete').classList.toggle('hidden', !complete);
    document.body.dataset.protocolComplete = complete ? '1' : '0';
    var html = '';
    items.forEach(function (it) {
      var cls = (it.captured ? 'done' : '') + (it.view === target ? ' current' : '');
      html += '<li data-view="' + it.view + '" class="' + cls + '">' + it.view + '</li>';
    });
    if (ol.dataset.html !== html) { ol.innerHTML = html; ol.dataset.html = html; }
  }

  function setState(s) {
    document.body.dataset.frame = s.frame_index || 0;
    $('frame-counter').textContent = s.frame_index || 0;
    $('fps').textContent = Number(s.fps || 0).toFixed(1);
    $('model-tag').textContent = s.model || '—';
    var banner = $('status-banner');
    var status = s.core_alive ? (s.status || 'no_signal') : 'no_signal';
    var noSignal = status === 'no_signal' || status === 'no_model';
    $('no-signal').classList.toggle('hidden', !noSignal);
    var st = STATUS[status] || ['', ''];
    banner.className = 'banner ' + st[0];
    banner.dataset.status = status;
    var text = st[1] ? L[st[1]] : (s.status_text || '');
    if (status === 'standard' && s.view) { text += ': ' + s.view; }
    if (status === 'holding' && s.hold_frac != null) { text += ' ' + Math.round(s.hold_frac * 100) + '%'; }
    if (!s.core_alive) { text = L.core_down; }
    banner.textContent = text;
    $('view-name').textContent = s.view || '—';
    $('target-name').textContent = s.target || '—';
    $('view-conf').textContent = s.view_conf != null ? Math.round(s.view_conf * 100) + '%' : '';
    // quality is measured toward the target view: for another view it is not a number to show (was "0.00")
    var offTarget = !!(s.target && s.view && s.view !== s.target);
    var q = Math.max(0, Math.min(1, s.quality || 0));
    $('quality-bar').style.width = offTarget ? '0%' : Math.round(q * 100) + '%';
    $('quality-num').textContent = offTarget ? $('quality-num').dataset.off : (s.view ? q.toFixed(2) : '—');
    $('quality-num').dataset.offTarget = offTarget ? '1' : '0';
    var h = s.hint;
    $('guidance-arrow').textContent = h ? (ARROWS[h.arrow] || '') : '';
    $('guidance-arrow').dataset.code = h ? h.code : '';
    $('guidance-text').textContent = h ? (zh ? h.text_zh : h.text_en) : '';
    setProtocol(s.protocol, s.target);
  }

  var es = new EventSource('/api/events');
  es.addEventListener('state', function (e) { setState(JSON.parse(e.data)); });
  ['standard_view', 'alarm', 'clip_saved', 'protocol_done', 'no_signal', 'no_heart', 'alert'].forEach(function (kind) {
    es.addEventListener(kind, function (e) {
      var ev = JSON.parse(e.data), p = ev.payload || {};
      logEvent(kind, (zh && p.text_zh) ? p.text_zh : (p.text || kind));
      document.body.dataset.lastEvent = kind;
      if (p.tone === 'standard' || kind === 'standard_view') { tone(); }
      else if (p.tone === 'alarm' || kind === 'alarm') { alarm(); }
    });
  });
  $('sound-toggle').addEventListener('click', function () {
    soundOn = !soundOn; var b = $('sound-toggle'); b.textContent = soundOn ? b.dataset.on : b.dataset.off;
    b.setAttribute('aria-pressed', soundOn ? 'true' : 'false');
    if (soundOn) { beep(660, 80); }
  });
  // The MJPEG stream ends after a few minutes by design: reconnect.
  var img = $('live-img');
  img.addEventListener('error', function () { setTimeout(function () { img.src = '/live/stream.mjpg?t=' + Date.now(); }, 1000); });
})();
