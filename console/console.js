/*
 * The operators' console. Plain browser JavaScript with no build step and no framework: a handful
 * of pages over the admin API, rendered with DOM calls (textContent only, never innerHTML, so no
 * value from the database can become markup). The operator token is kept in sessionStorage: it
 * lives as long as the tab, is sent only as an Authorization header (so no cookie rides along on a
 * cross-site request, and no CSRF token is needed), and the page's Content-Security-Policy allows
 * no script but this file and uPlot, both served by the service itself.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'alicloud-recharge.operator-token';
  var main = document.getElementById('main');
  var me = null;

  // ---- DOM helpers -------------------------------------------------------------------------

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') el.textContent = String(v);
        else if (k === 'className') el.className = v;
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child))
      child.forEach(function (c) {
        append(el, c);
      });
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  function link(href, text, attrs) {
    var a = h('a', Object.assign({ href: href, text: text }, attrs || {}));
    a.addEventListener('click', function (e) {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      go(href);
    });
    return a;
  }

  function badge(value) {
    return h('span', { className: 'badge ' + value, text: value });
  }

  function when(iso) {
    if (!iso) return '–';
    var d = new Date(iso);
    return d
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d{3}Z$/, ' UTC');
  }

  function money(amount, currency) {
    var digits = currency === 'JPY' ? 0 : 2;
    var sign = amount < 0 ? '-' : '';
    var abs = String(Math.abs(amount));
    if (digits === 0) return sign + abs + ' ' + currency;
    while (abs.length <= digits) abs = '0' + abs;
    return sign + abs.slice(0, -digits) + '.' + abs.slice(-digits) + ' ' + currency;
  }

  function table(headers, rows, caption) {
    return h(
      'div',
      { className: 'table-wrap' },
      h(
        'table',
        null,
        caption ? h('caption', { className: 'muted', text: caption }) : null,
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            headers.map(function (t) {
              return h('th', { scope: 'col', text: t });
            }),
          ),
        ),
        h('tbody', null, rows),
      ),
    );
  }

  function setTitle(text) {
    document.title = text + ' · alicloud-recharge console';
  }

  function message(kind, text) {
    return h('p', {
      className: kind === 'error' ? 'alert' : 'notice',
      role: kind === 'error' ? 'alert' : 'status',
      text: text,
    });
  }

  // ---- API -------------------------------------------------------------------------------

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    this.message = (body && (body.detail || body.title)) || 'request failed with status ' + status;
  }

  function api(path, options) {
    options = options || {};
    var headers = { Authorization: 'Bearer ' + (options.token || token()), Accept: 'application/json' };
    var init = { method: options.method || 'GET', headers: headers };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    return fetch('/admin/v1' + path, init).then(function (res) {
      return res
        .json()
        .catch(function () {
          return null;
        })
        .then(function (body) {
          if (res.ok) return body;
          var err = new ApiError(res.status, body);
          if (res.status === 401 && !options.token) signOut('Your session ended: ' + err.message);
          throw err;
        });
    });
  }

  function describe(err) {
    if (!(err instanceof ApiError)) return 'The service could not be reached: ' + (err && err.message);
    var extra = (err.body.errors || [])
      .map(function (e) {
        return e.field + ': ' + e.message;
      })
      .join('; ');
    return (
      err.message +
      (extra ? ' (' + extra + ')' : '') +
      (err.body.correlationId ? ' [correlationId ' + err.body.correlationId + ']' : '')
    );
  }

  // ---- Navigation --------------------------------------------------------------------------

  function go(href) {
    history.pushState(null, '', href);
    route();
  }

  window.addEventListener('popstate', route);

  function markNav(path) {
    var links = document.querySelectorAll('#nav a');
    for (var i = 0; i < links.length; i++) {
      var target = links[i].getAttribute('href');
      var active = target === '/console' ? path === '/console' || path === '/console/' : path.indexOf(target) === 0;
      if (active) links[i].setAttribute('aria-current', 'page');
      else links[i].removeAttribute('aria-current');
    }
  }

  function page(title) {
    clear(main);
    setTitle(title);
    var heading = h('h1', { text: title });
    main.appendChild(heading);
    return heading;
  }

  function route() {
    if (!token()) return renderSignIn();
    var path = location.pathname.replace(/\/+$/, '') || '/console';
    var query = new URLSearchParams(location.search);
    markNav(path);
    var m;
    var done;
    if (path === '/console') done = renderOverview();
    else if (path === '/console/recharges') done = renderRecharges(query);
    else if ((m = /^\/console\/recharges\/([^/]+)$/.exec(path))) done = renderRecharge(decodeURIComponent(m[1]));
    else if ((m = /^\/console\/accounts\/([^/]+)$/.exec(path))) done = renderAccount(decodeURIComponent(m[1]));
    else if (path === '/console/discrepancies') done = renderDiscrepancies(query);
    else if (path === '/console/rules') done = renderRules(query);
    else {
      page('Not found');
      done = Promise.resolve();
    }
    Promise.resolve(done).catch(function (err) {
      if (err instanceof ApiError && err.status === 401) return;
      main.appendChild(message('error', describe(err)));
    });
  }

  // ---- Sign in / out -----------------------------------------------------------------------

  function signOut(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    document.getElementById('nav').hidden = true;
    document.getElementById('who').hidden = true;
    renderSignIn(reason);
  }

  document.getElementById('sign-out').addEventListener('click', function () {
    signOut('You are signed out.');
  });

  function showWho() {
    document.getElementById('nav').hidden = false;
    document.getElementById('who').hidden = false;
    document.getElementById('who-name').textContent = me.name + ' (' + me.role + ')';
  }

  function renderSignIn(reason) {
    clear(main);
    setTitle('Sign in');
    var status = h('div', { 'aria-live': 'polite' });
    if (reason) status.appendChild(message(/ended|refused/.test(reason) ? 'error' : 'status', reason));
    var input = h('input', {
      id: 'token',
      name: 'token',
      type: 'password',
      autocomplete: 'off',
      required: true,
      spellcheck: 'false',
      'aria-describedby': 'token-help',
    });
    var button = h('button', { type: 'submit', className: 'primary', text: 'Sign in' });
    var form = h(
      'form',
      {
        'aria-labelledby': 'signin-title',
        onsubmit: function (e) {
          e.preventDefault();
          var value = input.value.trim();
          clear(status);
          button.disabled = true;
          api('/me', { token: value })
            .then(function (who) {
              sessionStorage.setItem(TOKEN_KEY, value);
              me = who;
              showWho();
              route();
            })
            .catch(function (err) {
              button.disabled = false;
              var text =
                err instanceof ApiError && err.status === 401
                  ? 'Sign-in refused: ' +
                    err.message +
                    '. Check the token, or ask for a new one (npm run cli -- operators:create).'
                  : describe(err);
              status.appendChild(message('error', text));
              input.focus();
            });
        },
      },
      h('label', { for: 'token', text: 'Operator token' }),
      input,
      h('p', {
        id: 'token-help',
        className: 'muted',
        text: 'The op_… token printed once by operators:create. It is kept only in this browser tab.',
      }),
      button,
    );
    main.appendChild(
      h('section', { className: 'signin' }, h('h1', { id: 'signin-title', text: 'Sign in' }), status, form),
    );
    input.focus();
  }

  // ---- Overview ----------------------------------------------------------------------------

  function card(label, value, note) {
    return h(
      'div',
      { className: 'card' },
      h('dt', { text: label }),
      h('dd', null, String(value), note ? h('small', { text: note }) : null),
    );
  }

  function renderOverview() {
    page('Overview');
    return api('/summary').then(function (s) {
      var st = s.byStatus;
      main.appendChild(
        h(
          'dl',
          { className: 'cards', 'aria-label': 'Figures' },
          card('Succeeded (24 h)', st.succeeded),
          card('Failed (24 h)', st.failed),
          card('In progress (24 h)', st.in_progress + st.accepted),
          card('Canceled (24 h)', st.canceled),
          card('Pending beyond SLA', s.pendingBeyondSla, 'open for more than ' + s.slaSeconds + ' s'),
          card('Open discrepancies', s.openDiscrepancies),
          card(
            'Provider error rate',
            (s.provider.errorRate * 100).toFixed(1) + ' %',
            s.provider.calls + ' calls in ' + s.provider.windowSeconds / 60 + ' min',
          ),
          card('Provider circuit', s.provider.circuit),
          card(
            'Rate budget in use',
            Math.round(s.rateBudget.inUse * 100) + ' %',
            s.rateBudget.callsLastMinute + ' calls last minute, limit ' + s.rateBudget.limitPerSecond + '/s',
          ),
          card('Callbacks waiting', s.callbacksWaiting),
        ),
      );
      main.appendChild(h('h2', { text: 'Recharges per minute and confirmation time, last ' + s.chart.hours + ' h' }));
      var figure = h('figure', { className: 'chart', role: 'img', 'aria-label': chartDescription(s.chart) });
      main.appendChild(figure);
      drawChart(figure, s.chart);
      figure.appendChild(h('figcaption', { text: chartDescription(s.chart) }));
    });
  }

  function sum(values) {
    return values.reduce(function (a, b) {
      return a + b;
    }, 0);
  }

  function chartDescription(c) {
    var p95 = c.confirmationP95Seconds.filter(function (v) {
      return v !== null;
    });
    return (
      'Bars: recharges that finished each minute (succeeded ' +
      sum(c.succeeded) +
      ', failed ' +
      sum(c.failed) +
      ', canceled ' +
      sum(c.canceled) +
      ' in ' +
      c.hours +
      ' h). Line: 95th percentile of the time from request to confirmation' +
      (p95.length ? ' (highest ' + Math.max.apply(null, p95).toFixed(1) + ' s).' : ' (no confirmations yet).')
    );
  }

  function drawChart(container, c) {
    if (typeof uPlot !== 'function') {
      container.appendChild(message('error', 'The chart library did not load.'));
      return;
    }
    var xs = c.minutes.map(function (m) {
      return Date.parse(m) / 1000;
    });
    // Stacked bars: each series is drawn up to its running total, the tallest first.
    var stackS = c.succeeded;
    var stackF = c.succeeded.map(function (v, i) {
      return v + c.failed[i];
    });
    var stackC = stackF.map(function (v, i) {
      return v + c.canceled[i];
    });
    var raw = [null, c.canceled, c.failed, c.succeeded, c.confirmationP95Seconds];
    var bars = uPlot.paths.bars({ size: [0.9, 12] });
    function shown(u, v, si, i) {
      var value = i === null || i === undefined ? null : raw[si][i];
      return value === null || value === undefined ? '–' : si === 4 ? value.toFixed(2) + ' s' : String(value);
    }
    var width = Math.max(280, container.clientWidth - 18);
    var opts = {
      width: width,
      height: width < 600 ? 240 : 320,
      cursor: { focus: { prox: 30 } },
      scales: { x: { time: true }, n: { auto: true }, s: { auto: true } },
      axes: [
        {},
        { scale: 'n', label: 'recharges / min', size: 60 },
        { scale: 's', label: 'confirmation p95 (s)', side: 1, grid: { show: false }, size: 60 },
      ],
      series: [
        {},
        {
          label: 'canceled',
          scale: 'n',
          fill: '#8c959f',
          stroke: '#6e7781',
          paths: bars,
          points: { show: false },
          value: shown,
        },
        {
          label: 'failed',
          scale: 'n',
          fill: '#ff8182',
          stroke: '#cf222e',
          paths: bars,
          points: { show: false },
          value: shown,
        },
        {
          label: 'succeeded',
          scale: 'n',
          fill: '#4ac26b',
          stroke: '#1a7f37',
          paths: bars,
          points: { show: false },
          value: shown,
        },
        { label: 'confirmation p95', scale: 's', stroke: '#0a58ca', width: 2, spanGaps: true, value: shown },
      ],
    };
    new uPlot(opts, [xs, stackC, stackF, stackS, c.confirmationP95Seconds], container);
  }

  // ---- Recharge list -----------------------------------------------------------------------

  var FILTERS = [
    { name: 'accountId', label: 'Account ID', type: 'text', inputmode: 'numeric' },
    { name: 'q', label: 'Recharge ID, idempotency key or order reference', type: 'search' },
    { name: 'status', label: 'Status', options: ['', 'accepted', 'in_progress', 'succeeded', 'failed', 'canceled'] },
    {
      name: 'state',
      label: 'State',
      options: ['', 'CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION', 'SUCCEEDED', 'FAILED', 'CANCELED'],
    },
    { name: 'clientId', label: 'Client ID', type: 'text' },
    { name: 'createdFrom', label: 'Created from (UTC)', type: 'datetime-local' },
    { name: 'createdTo', label: 'Created before (UTC)', type: 'datetime-local' },
  ];

  function toApiDate(value) {
    return value ? value + (value.length === 16 ? ':00' : '') + 'Z' : value;
  }

  function rechargeRows(list) {
    return list.map(function (r) {
      return h(
        'tr',
        null,
        h('td', null, link('/console/recharges/' + encodeURIComponent(r.id), r.id, { className: 'mono' })),
        h('td', null, badge(r.state), r.failure ? h('div', { className: 'muted', text: r.failure.code }) : null),
        h('td', null, link('/console/accounts/' + encodeURIComponent(r.accountId), r.accountId, { className: 'mono' })),
        h('td', { className: 'num', text: money(r.amount, r.currency) }),
        h('td', { className: 'mono', text: r.clientId }),
        h('td', { text: r.orderReference || '–' }),
        h('td', { text: when(r.createdAt) }),
      );
    });
  }

  var RECHARGE_HEADERS = ['Recharge', 'State', 'Account', 'Amount', 'Client', 'Order reference', 'Created'];

  function renderRecharges(query) {
    page('Recharges');
    var form = h('form', { className: 'filters', role: 'search', 'aria-label': 'Filter recharges' });
    FILTERS.forEach(function (f) {
      var id = 'filter-' + f.name;
      var control;
      if (f.options) {
        control = h(
          'select',
          { id: id, name: f.name },
          f.options.map(function (o) {
            return h('option', { value: o, text: o || 'any', selected: query.get(f.name) === o && o !== '' });
          }),
        );
      } else {
        var value = query.get(f.name) || '';
        if (f.type === 'datetime-local' && value) value = value.replace(/:00(\.000)?Z$/, '').replace(/Z$/, '');
        control = h('input', { id: id, name: f.name, type: f.type, value: value, inputmode: f.inputmode });
      }
      form.appendChild(h('div', null, h('label', { for: id, text: f.label }), control));
    });
    form.appendChild(
      h(
        'div',
        { className: 'actions' },
        h('button', { type: 'submit', className: 'primary', text: 'Apply filters' }),
        link('/console/recharges', 'Clear', { className: 'button' }),
      ),
    );
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var params = new URLSearchParams();
      FILTERS.forEach(function (f) {
        var v = form.elements[f.name].value.trim();
        if (v) params.set(f.name, f.type === 'datetime-local' ? toApiDate(v) : v);
      });
      go('/console/recharges' + (params.toString() ? '?' + params : ''));
    });
    main.appendChild(form);
    var results = h('section', { 'aria-label': 'Results', 'aria-live': 'polite' });
    main.appendChild(results);
    var params = new URLSearchParams(query);
    if (!params.get('limit')) params.set('limit', '25');
    return api('/recharges?' + params).then(function (page) {
      if (page.data.length === 0) {
        results.appendChild(h('p', { text: 'No recharge matches these filters.' }));
      } else {
        results.appendChild(
          table(RECHARGE_HEADERS, rechargeRows(page.data), page.data.length + ' recharges, newest first'),
        );
      }
      var pager = h('div', { className: 'pager' });
      if (query.get('cursor')) {
        var first = new URLSearchParams(query);
        first.delete('cursor');
        pager.appendChild(link('/console/recharges?' + first, 'First page', { className: 'button' }));
      }
      if (page.nextCursor) {
        var next = new URLSearchParams(query);
        next.set('cursor', page.nextCursor);
        pager.appendChild(link('/console/recharges?' + next, 'Next page', { className: 'button', rel: 'next' }));
      }
      results.appendChild(pager);
    });
  }

  // ---- One recharge ------------------------------------------------------------------------

  function timeline(r) {
    var items = [];
    function add(at, kind, what, detail, cls) {
      items.push({ at: at, kind: kind, what: what, detail: detail, cls: cls });
    }
    r.events.forEach(function (e) {
      add(
        e.at,
        'transition',
        (e.from || 'new') + ' → ' + e.to + ' (' + e.source + (e.actor ? ' ' + e.actor : '') + ')',
        e.reason + (e.correction ? ' · correction' : ''),
        e.source === 'operator' ? 'operator' : '',
      );
    });
    r.providerCalls.forEach(function (c) {
      add(
        c.at,
        'provider call',
        c.action + ' → ' + c.outcome + (c.providerCode ? ' (' + c.providerCode + ')' : ''),
        [
          c.attempt ? 'attempt ' + c.attempt : null,
          c.httpStatus ? 'HTTP ' + c.httpStatus : null,
          c.durationMs + ' ms',
          c.requestId ? 'RequestId ' + c.requestId : null,
        ]
          .filter(Boolean)
          .join(' · '),
      );
    });
    r.notifications.forEach(function (n) {
      add(
        n.receivedAt,
        'notification',
        n.type + ' → ' + (n.result || 'not processed yet'),
        [n.transactionNumber, n.failureCode, n.detail].filter(Boolean).join(' · '),
      );
    });
    r.callbacks.forEach(function (c) {
      add(
        c.createdAt,
        'callback',
        c.eventType + ' queued for ' + c.url,
        'status ' + c.status + ', ' + c.attempts + ' attempts',
      );
    });
    r.callbackAttempts.forEach(function (a) {
      add(
        a.attemptedAt,
        'callback attempt',
        a.eventType + ' → ' + (a.statusCode ? 'HTTP ' + a.statusCode : 'no answer'),
        (a.error ? a.error + ' · ' : '') + a.latencyMs + ' ms',
      );
    });
    r.ledger.forEach(function (l) {
      add(l.at, 'ledger', l.direction + ' ' + money(l.amount, l.currency) + ' ' + l.ledgerAccount, l.id);
    });
    r.discrepancies.forEach(function (d) {
      add(
        d.seenAt,
        'discrepancy',
        d.kind + (d.acknowledgedAt ? ' (acknowledged)' : ' (open)'),
        d.acknowledgementNote || '',
      );
    });
    r.operatorActions.forEach(function (a) {
      add(a.at, 'operator action', a.action + ' by ' + a.operatorName, a.reason || '', 'operator');
    });
    items.sort(function (a, b) {
      return a.at < b.at ? -1 : a.at > b.at ? 1 : 0;
    });
    return h(
      'ol',
      { className: 'timeline', 'aria-label': 'Timeline, oldest first' },
      items.map(function (i) {
        return h(
          'li',
          { className: i.cls || null, 'data-kind': i.kind },
          h('span', { className: 'when', text: when(i.at) + ' · ' + i.kind }),
          h('span', { className: 'what', text: i.what }),
          i.detail ? h('span', { className: 'what muted', text: i.detail }) : null,
        );
      }),
    );
  }

  function actionForm(spec, onDone) {
    var id = 'action-' + spec.key;
    var reason = h('textarea', {
      id: id + '-reason',
      name: 'reason',
      rows: 3,
      required: true,
      minlength: 10,
      maxlength: 2000,
      'aria-describedby': id + '-help',
    });
    var fields = [
      h('label', { for: id + '-reason', text: 'Reason (at least 10 characters, kept in the audit trail)' }),
      reason,
      h('p', { id: id + '-help', className: 'muted', text: spec.help }),
    ];
    var reference = null;
    if (spec.reference) {
      reference = h('input', { id: id + '-reference', name: 'providerReference', type: 'text', maxlength: 128 });
      fields.push(h('label', { for: id + '-reference', text: "Provider's transaction number (optional)" }), reference);
    }
    var status = h('div', { 'aria-live': 'polite' });
    var confirm = h('button', {
      type: 'submit',
      className: spec.danger ? 'danger' : 'primary',
      text: 'Confirm: ' + spec.label,
    });
    var form = h(
      'form',
      { className: 'action-form', 'aria-label': spec.label, novalidate: true },
      fields,
      h(
        'div',
        { className: 'actions' },
        confirm,
        h('button', {
          type: 'button',
          text: 'Cancel',
          onclick: function () {
            form.remove();
          },
        }),
      ),
      status,
    );
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clear(status);
      if (reason.value.trim().length < 10) {
        status.appendChild(message('error', 'Give a reason of at least 10 characters.'));
        reason.focus();
        return;
      }
      confirm.disabled = true;
      var body = Object.assign({ reason: reason.value.trim() }, spec.body || {});
      if (reference && reference.value.trim()) body.providerReference = reference.value.trim();
      api(spec.path, { method: 'POST', body: body })
        .then(function (result) {
          onDone(spec.done(result));
        })
        .catch(function (err) {
          confirm.disabled = false;
          status.appendChild(message('error', describe(err)));
        });
    });
    setTimeout(function () {
      reason.focus();
    }, 0);
    return form;
  }

  function renderRecharge(id, flash) {
    page('Recharge');
    return api('/recharges/' + encodeURIComponent(id)).then(function (r) {
      var heading = main.querySelector('h1');
      heading.textContent = 'Recharge ' + r.id;
      setTitle('Recharge ' + r.id);
      if (flash) main.appendChild(message('status', flash));
      main.appendChild(
        h(
          'dl',
          { className: 'facts' },
          h('dt', { text: 'State' }),
          h('dd', null, badge(r.state), ' ', r.status),
          h('dt', { text: 'Failure' }),
          h('dd', {
            text: r.failure
              ? r.failure.code +
                ': ' +
                r.failure.message +
                (r.failure.providerCode ? ' (' + r.failure.providerCode + ')' : '')
              : '–',
          }),
          h('dt', { text: 'Account' }),
          h(
            'dd',
            null,
            link('/console/accounts/' + encodeURIComponent(r.accountId), r.accountId, { className: 'mono' }),
          ),
          h('dt', { text: 'Amount' }),
          h('dd', { text: money(r.amount, r.currency) }),
          h('dt', { text: 'Client' }),
          h('dd', { className: 'mono', text: r.clientId }),
          h('dt', { text: 'Order reference' }),
          h('dd', { text: r.orderReference || '–' }),
          h('dt', { text: 'Provider reference' }),
          h('dd', { className: 'mono', text: r.providerReference || '–' }),
          h('dt', { text: 'Message' }),
          h('dd', { text: r.message || '–' }),
          h('dt', { text: 'Callback URL' }),
          h('dd', { className: 'mono', text: r.callbackUrl || '–' }),
          h('dt', { text: 'Created' }),
          h('dd', { text: when(r.createdAt) }),
          h('dt', { text: 'Completed' }),
          h('dd', { text: when(r.completedAt) }),
        ),
      );
      main.appendChild(h('h2', { text: 'Timeline' }));
      main.appendChild(timeline(r));
      main.appendChild(h('h2', { id: 'actions-title', text: 'Actions' }));
      var section = h('section', { 'aria-labelledby': 'actions-title' });
      main.appendChild(section);
      if (!me || !me.mayAct) {
        section.appendChild(
          h('p', {
            className: 'muted',
            text: 'You are signed in as a viewer: you can read everything, actions need the operator role.',
          }),
        );
        return;
      }
      var resolvable =
        r.state === 'PENDING_CONFIRMATION' || (r.state === 'FAILED' && r.failure && r.failure.code === 'TIMEOUT');
      var specs = [];
      var base = '/recharges/' + encodeURIComponent(r.id);
      if (resolvable) {
        specs.push({
          key: 'succeeded',
          label: 'Resolve as succeeded',
          reference: true,
          path: base + '/resolve',
          body: { outcome: 'succeeded' },
          help: 'Only after checking at Alibaba Cloud that the credit was applied: the ledger is credited now.',
          done: function (x) {
            return 'Resolved: the recharge is now ' + x.state + '.';
          },
        });
        specs.push({
          key: 'not-applied',
          label: 'Resolve as not applied',
          danger: true,
          path: base + '/resolve',
          body: { outcome: 'not_applied' },
          help: 'Only after checking at Alibaba Cloud that nothing was applied: the failure becomes definitive (NOT_APPLIED).',
          done: function (x) {
            return 'Resolved: the recharge is now ' + x.state + ' (' + (x.failure && x.failure.code) + ').';
          },
        });
      }
      if (r.state === 'SUBMITTED' || r.state === 'PENDING_CONFIRMATION') {
        specs.push({
          key: 'redrive',
          label: 'Re-drive now',
          path: base + '/redrive',
          help: 'Sends it again now with the same OutBizId; Alibaba Cloud applies it at most once.',
          done: function () {
            return 'Re-drive requested: it is due now.';
          },
        });
      }
      if (r.callbacks.length > 0) {
        specs.push({
          key: 'redeliver',
          label: 'Redeliver callback',
          path: base + '/callbacks/redeliver',
          help: 'Delivers the latest callback again with the same webhook-id.',
          done: function (x) {
            return 'Callback ' + x.eventType + ' queued for delivery.';
          },
        });
      }
      if (specs.length === 0) {
        section.appendChild(h('p', { className: 'muted', text: 'No action applies to a ' + r.state + ' recharge.' }));
        return;
      }
      var holder = h('div');
      section.appendChild(
        h(
          'div',
          { className: 'actions' },
          specs.map(function (spec) {
            return h('button', {
              type: 'button',
              className: spec.danger ? 'danger' : null,
              text: spec.label + '…',
              onclick: function () {
                clear(holder);
                holder.appendChild(
                  actionForm(spec, function (text) {
                    renderRecharge(id, text);
                  }),
                );
              },
            });
          }),
        ),
      );
      section.appendChild(holder);
    });
  }

  // ---- Account -----------------------------------------------------------------------------

  function renderAccount(accountId, flash) {
    page('Account ' + accountId);
    return api('/accounts/' + encodeURIComponent(accountId)).then(function (a) {
      var cols = h('div', { className: 'two-col' });
      main.appendChild(cols);
      cols.appendChild(
        h(
          'section',
          { 'aria-labelledby': 'bal-title' },
          h('h2', { id: 'bal-title', text: 'Ledger balance' }),
          a.balances.length === 0
            ? h('p', { text: 'Nothing credited yet.' })
            : h(
                'ul',
                null,
                a.balances.map(function (b) {
                  return h('li', { text: money(b.amount, b.currency) });
                }),
              ),
        ),
      );
      cols.appendChild(
        h(
          'section',
          { 'aria-labelledby': 'quota-title' },
          h('h2', { id: 'quota-title', text: 'Provider quota (live)' }),
          a.providerQuota
            ? h(
                'p',
                null,
                money(a.providerQuota.amount, a.providerQuota.currency),
                h('span', { className: 'muted', text: ' as of ' + when(a.providerQuota.at) }),
              )
            : message('error', a.providerQuotaError || 'Unavailable.'),
        ),
      );
      main.appendChild(h('h2', { text: 'Auto-recharge rules' }));
      main.appendChild(
        a.rules.length
          ? h(
              'div',
              null,
              rulesSection(a.rules, a.rules.length + ' rules of every client', flash, function (text) {
                renderAccount(accountId, text);
              }),
            )
          : h('p', { className: 'muted', text: 'No rules for this account.' }),
      );
      main.appendChild(h('h2', { text: 'Recent recharges' }));
      main.appendChild(
        a.recentRecharges.length ? table(RECHARGE_HEADERS, rechargeRows(a.recentRecharges)) : h('p', { text: 'None.' }),
      );
      main.appendChild(
        h(
          'p',
          null,
          link('/console/recharges?accountId=' + encodeURIComponent(accountId), 'All recharges of this account'),
        ),
      );
    });
  }

  // ---- Discrepancies -----------------------------------------------------------------------

  function renderDiscrepancies(query, flash) {
    var status = query.get('status') === 'acknowledged' ? 'acknowledged' : 'open';
    page('Discrepancies');
    if (flash) main.appendChild(message('status', flash));
    main.appendChild(
      h(
        'p',
        { className: 'actions' },
        link('/console/discrepancies', 'Open', {
          className: 'button',
          'aria-current': status === 'open' ? 'page' : null,
        }),
        link('/console/discrepancies?status=acknowledged', 'Acknowledged', {
          className: 'button',
          'aria-current': status === 'acknowledged' ? 'page' : null,
        }),
      ),
    );
    var params = new URLSearchParams({ status: status, limit: '50' });
    if (query.get('cursor')) params.set('cursor', query.get('cursor'));
    return api('/discrepancies?' + params).then(function (p) {
      if (p.data.length === 0) {
        main.appendChild(h('p', { text: status === 'open' ? 'No open discrepancy.' : 'No acknowledged discrepancy.' }));
        return;
      }
      var holder = h('div');
      var rows = p.data.map(function (d) {
        var ack = null;
        if (status === 'open' && me && me.mayAct) {
          ack = h('button', {
            type: 'button',
            text: 'Acknowledge…',
            onclick: function () {
              clear(holder);
              var note = h('textarea', { id: 'ack-note', rows: 3, required: true, maxlength: 2000 });
              var out = h('div', { 'aria-live': 'polite' });
              var form = h(
                'form',
                { className: 'action-form', 'aria-label': 'Acknowledge ' + d.id },
                h('label', {
                  for: 'ack-note',
                  text: 'Note for discrepancy ' + d.id + ' (what was checked, what was done)',
                }),
                note,
                h(
                  'div',
                  { className: 'actions' },
                  h('button', { type: 'submit', className: 'primary', text: 'Confirm: acknowledge' }),
                  h('button', {
                    type: 'button',
                    text: 'Cancel',
                    onclick: function () {
                      form.remove();
                    },
                  }),
                ),
                out,
              );
              form.addEventListener('submit', function (e) {
                e.preventDefault();
                api('/discrepancies/' + encodeURIComponent(d.id) + '/acknowledge', {
                  method: 'POST',
                  body: { note: note.value },
                })
                  .then(function () {
                    renderDiscrepancies(query, 'Discrepancy ' + d.id + ' acknowledged.');
                  })
                  .catch(function (err) {
                    clear(out);
                    out.appendChild(message('error', describe(err)));
                  });
              });
              holder.appendChild(form);
              note.focus();
            },
          });
        }
        return h(
          'tr',
          null,
          h('td', { className: 'mono', text: d.id }),
          h('td', { text: d.kind }),
          h(
            'td',
            null,
            d.rechargeId
              ? link('/console/recharges/' + encodeURIComponent(d.rechargeId), d.rechargeId, { className: 'mono' })
              : 'orphan',
          ),
          h('td', { text: when(d.seenAt) }),
          h('td', { className: 'mono', text: JSON.stringify(d.evidence) }),
          h(
            'td',
            null,
            d.acknowledgedAt
              ? (d.acknowledgedByName || d.acknowledgedBy) +
                  ' at ' +
                  when(d.acknowledgedAt) +
                  ': ' +
                  d.acknowledgementNote
              : ack,
          ),
        );
      });
      main.appendChild(
        table(['ID', 'Kind', 'Recharge', 'Seen', 'Evidence', status === 'open' ? 'Action' : 'Acknowledged'], rows),
      );
      main.appendChild(holder);
      if (p.nextCursor)
        main.appendChild(
          h(
            'p',
            { className: 'pager' },
            link(
              '/console/discrepancies?status=' + status + '&cursor=' + encodeURIComponent(p.nextCursor),
              'Next page',
              { className: 'button' },
            ),
          ),
        );
    });
  }

  // ---- Rules -------------------------------------------------------------------------------

  function ruleTrigger(rule) {
    var t = rule.trigger;
    return t.type === 'threshold'
      ? 'quota below ' + money(t.below, rule.currency)
      : 'schedule ' + t.cron + ' (' + (t.timezone || 'UTC') + ')';
  }

  function ruleTopUp(rule) {
    return (rule.topUp.type === 'target' ? 'up to ' : 'add ') + money(rule.topUp.amount, rule.currency);
  }

  function ruleLimits(rule) {
    var l = rule.limits || {};
    var parts = [];
    if (l.maxAmountPerDay !== undefined) parts.push(money(l.maxAmountPerDay, rule.currency) + '/day');
    if (l.maxAmountPerMonth !== undefined) parts.push(money(l.maxAmountPerMonth, rule.currency) + '/month');
    if (l.maxCountPerDay !== undefined) parts.push(l.maxCountPerDay + ' top-ups/day');
    if (l.maxCountPerMonth !== undefined) parts.push(l.maxCountPerMonth + ' top-ups/month');
    if (rule.cooldownSeconds) parts.push('cooldown ' + rule.cooldownSeconds + ' s');
    return parts.length ? parts.join(', ') : 'none';
  }

  function ruleEvaluation(rule) {
    var e = rule.lastEvaluation;
    if (!e) return h('span', { className: 'muted', text: 'not evaluated yet' });
    return h(
      'span',
      null,
      h('strong', { text: e.decision }),
      ' at ' + when(e.at) + (e.reason ? ': ' + e.reason : ''),
      e.quota !== null ? h('div', { className: 'muted', text: 'quota ' + money(e.quota, rule.currency) }) : null,
      e.rechargeId
        ? h(
            'div',
            null,
            link('/console/recharges/' + encodeURIComponent(e.rechargeId), e.rechargeId, { className: 'mono' }),
          )
        : null,
    );
  }

  var RULE_HEADERS = [
    'Rule',
    'Status',
    'Account',
    'Client',
    'Trigger',
    'Top-up',
    'Limits',
    'Last evaluation',
    'Failures in a row',
  ];

  /** Pause / resume for operators: a button per rule that opens the reason form in `holder`. */
  function ruleAction(rule, holder, onDone) {
    if (!me || !me.mayAct) return null;
    var pause = rule.status === 'active';
    var spec = {
      key: 'rule-' + (pause ? 'pause' : 'resume'),
      label: (pause ? 'Pause rule ' : 'Resume rule ') + rule.id,
      path: '/rules/' + encodeURIComponent(rule.id) + (pause ? '/pause' : '/resume'),
      danger: pause,
      help: pause
        ? 'No top-up while paused; the client sees the rule paused and may resume it.'
        : rule.status === 'disabled'
          ? 'Its run of failures starts over and it is evaluated at once: check first why it was disabled.'
          : 'It is evaluated at once.',
      done: function (x) {
        return 'Rule ' + x.id + ' is now ' + x.status + '.';
      },
    };
    return h('button', {
      type: 'button',
      className: pause ? 'danger' : null,
      text: (pause ? 'Pause' : 'Resume') + '…',
      'aria-label': (pause ? 'Pause rule ' : 'Resume rule ') + rule.id,
      onclick: function () {
        clear(holder);
        holder.appendChild(actionForm(spec, onDone));
      },
    });
  }

  function ruleRows(list, holder, onDone) {
    return list.map(function (rule) {
      return h(
        'tr',
        { 'data-rule-id': rule.id },
        h('td', { className: 'mono', text: rule.id }),
        h(
          'td',
          null,
          badge(rule.status),
          rule.dryRun ? h('div', { className: 'muted', text: 'dry run' }) : null,
          rule.disabledReason ? h('div', { className: 'muted', text: rule.disabledReason }) : null,
        ),
        h(
          'td',
          null,
          link('/console/accounts/' + encodeURIComponent(rule.accountId), rule.accountId, { className: 'mono' }),
        ),
        h('td', { className: 'mono', text: rule.clientId }),
        h('td', { text: ruleTrigger(rule) }),
        h('td', { text: ruleTopUp(rule) }),
        h('td', { text: ruleLimits(rule) }),
        h('td', null, ruleEvaluation(rule)),
        h('td', { className: 'num', text: rule.consecutiveFailures }),
        me && me.mayAct ? h('td', null, ruleAction(rule, holder, onDone)) : null,
      );
    });
  }

  function ruleHeaders() {
    return me && me.mayAct ? RULE_HEADERS.concat(['Action']) : RULE_HEADERS;
  }

  /** The rules table, the place for an action's reason form below it, and the flash of the last action. */
  function rulesSection(list, caption, flash, rerender) {
    var holder = h('div');
    var parts = [];
    if (flash) parts.push(message('status', flash));
    parts.push(table(ruleHeaders(), ruleRows(list, holder, rerender), caption));
    parts.push(holder);
    return parts;
  }

  function renderRules(query, flash) {
    var status = ['active', 'paused', 'disabled'].indexOf(query.get('status')) >= 0 ? query.get('status') : '';
    page('Auto-recharge rules');
    if (flash) main.appendChild(message('status', flash));
    main.appendChild(
      h(
        'p',
        { className: 'actions' },
        ['', 'active', 'paused', 'disabled'].map(function (s) {
          return link(
            s ? '/console/rules?status=' + s : '/console/rules',
            s ? s[0].toUpperCase() + s.slice(1) : 'All',
            {
              className: 'button',
              'aria-current': status === s ? 'page' : null,
            },
          );
        }),
      ),
    );
    var params = new URLSearchParams({ limit: '50' });
    if (status) params.set('status', status);
    if (query.get('cursor')) params.set('cursor', query.get('cursor'));
    return api('/rules?' + params).then(function (p) {
      if (p.data.length === 0) {
        main.appendChild(h('p', { text: status ? 'No ' + status + ' rule.' : 'No rule yet.' }));
        return;
      }
      append(
        main,
        rulesSection(p.data, p.data.length + ' rules, newest first', null, function (text) {
          renderRules(query, text);
        }),
      );
      if (p.nextCursor) {
        var next = new URLSearchParams({ cursor: p.nextCursor });
        if (status) next.set('status', status);
        main.appendChild(
          h('p', { className: 'pager' }, link('/console/rules?' + next, 'Next page', { className: 'button' })),
        );
      }
    });
  }

  // ---- Start -------------------------------------------------------------------------------

  if (!token()) {
    route();
  } else {
    api('/me')
      .then(function (who) {
        me = who;
        showWho();
        route();
      })
      .catch(function (err) {
        if (!(err instanceof ApiError && err.status === 401)) main.appendChild(message('error', describe(err)));
      });
  }
  // Global links in the header use the same in-page navigation.
  Array.prototype.forEach.call(document.querySelectorAll('#nav a, a.brand'), function (a) {
    a.addEventListener('click', function (e) {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      go(a.getAttribute('href'));
    });
  });
})();
