import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BssSimulator, createBssSimulator } from '../../libs/bss-simulator';
import { EvaluateRuleUseCase } from '../../src/rules/application/evaluate-rule.use-case';
import { createOperator, seedDiscrepancy, seedRecharge } from '../support/admin-fixtures';
import { chromiumPath, launchChromium, LOUD_SKIP } from '../support/browser';
import { query } from '../support/database';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * The console in a real browser (Debian's chromium driven by playwright-core): what an operator
 * sees and does, end to end through the service's own HTTP server and a real database.
 * Screenshots go to $CONSOLE_SCREENSHOT_DIR (docs/images to refresh the README's) or a temp dir.
 */
const executablePath = chromiumPath();
if (!executablePath) console.warn(LOUD_SKIP);
const describeInBrowser = executablePath ? describe : describe.skip;

const ACCOUNT_A = '1234567890123456';
const ACCOUNT_B = '7777';
const SHOTS = resolve(process.env.CONSOLE_SCREENSHOT_DIR ?? join(tmpdir(), 'console-screenshots'));

/** Three hours of finished recharges, so the overview's chart has a shape (as a real day would). */
async function seedHistory(databaseUrl: string, clientId: string): Promise<void> {
  await query(
    databaseUrl,
    `INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency, metadata,
       state, message, failure_code, failure_message, attempts, submitted_at, created_at, updated_at, completed_at, version)
     SELECT 'rch_' || lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || substr(md5(i::text), 1, 3)
              || '8' || substr(md5(i::text), 4, 15),
            $1, 'history-' || i, md5(i::text), '10000000' || lpad((i % 40)::text, 8, '0'), 100 + (i * 37) % 9000, 'CNY', '{}',
            CASE WHEN i % 50 = 0 THEN 'FAILED' WHEN i % 33 = 0 THEN 'CANCELED' ELSE 'SUCCEEDED' END,
            'history', CASE WHEN i % 50 = 0 THEN 'PROVIDER_REJECTED' WHEN i % 33 = 0 THEN 'CANCELED' END,
            CASE WHEN i % 50 = 0 OR i % 33 = 0 THEN 'history' END, 1, t, t, t + d, t + d, 3
     FROM generate_series(1, 1400) i,
          LATERAL (SELECT now() - interval '3 hours' + i * interval '7.5 seconds' AS t,
                          (0.4 + (i % 17) * 0.15 + CASE WHEN i BETWEEN 700 AND 760 THEN 6 ELSE 0 END) * interval '1 second' AS d) x
     WHERE t + d < now()`,
    [clientId],
  );
}

describeInBrowser('console in a real browser (chromium)', () => {
  let t: TestApp;
  let sim: BssSimulator;
  let browser: Browser;
  let base: string;
  let client: { clientId: string; apiKey: string };
  let operator: { token: string; name: string };
  let viewer: { token: string; name: string };
  let timedOutA: string;
  let timedOutForViewer: string;
  let canceledWithSuccess: string;
  let contexts: BrowserContext[] = [];

  async function newPage(width = 1280, height = 900): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height } });
    contexts.push(context);
    return context.newPage();
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(`${base}/console`);
    // Keyboard only: the token field has focus on arrival, Enter submits.
    await page.getByLabel('Operator token').waitFor();
    await page.keyboard.type(token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    sim = await createBssSimulator({ port: 0 });
    sim.setAccount(ACCOUNT_A, { quota: '5000.00', currency: 'CNY' });
    t = await startTestApp({ PROVIDER: 'simulator', ALIBABA_CLOUD_BSS_ENDPOINT: sim.url, PROVIDER_TIMEOUT_MS: '2000' });
    await t.app.listen(0, '127.0.0.1');
    base = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
    client = await t.createClient(['*']);
    operator = await createOperator(t.app, 'operator', 'Olivia Operator');
    viewer = await createOperator(t.app, 'viewer', 'Victor Viewer');
    await seedHistory(t.databaseUrl, client.clientId);
    for (const situation of ['SUCCEEDED', 'PENDING', 'SUCCEEDED'] as const)
      await seedRecharge(t, client.apiKey, situation, { accountId: ACCOUNT_B, orderReference: `b-${situation}` });
    await seedRecharge(t, client.apiKey, 'SUCCEEDED', { accountId: ACCOUNT_A, orderReference: 'order-41' });
    timedOutA = await seedRecharge(t, client.apiKey, 'TIMEOUT', {
      accountId: ACCOUNT_A,
      amount: 4999,
      orderReference: 'order-42',
      callbackUrl: 'https://hooks.example.com/recharges',
    });
    timedOutForViewer = await seedRecharge(t, client.apiKey, 'TIMEOUT', { accountId: ACCOUNT_B });
    canceledWithSuccess = await seedRecharge(t, client.apiKey, 'CANCELED', { accountId: ACCOUNT_B });
    await seedDiscrepancy(t.app, canceledWithSuccess, 'success_after_cancel');
    browser = await launchChromium(executablePath!);
  });

  afterEach(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    contexts = [];
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await sim?.close();
  });

  it('refuses a bad token with a clear message and stays on the sign-in page', async () => {
    const page = await newPage();
    await page.goto(`${base}/console`);
    await page.getByLabel('Operator token').fill('op_thisIsNotARealToken000000000000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Sign-in refused: unknown or revoked operator token/);
    expect(await page.getByRole('heading', { name: 'Overview' }).count()).toBe(0);
    // A client API key is not an operator token either.
    await page.getByLabel('Operator token').fill(client.apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/not an operator token/).waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
  });

  it('signs in with the keyboard and shows the overview figures and the chart (screenshot)', async () => {
    const page = await newPage(1280, 1000);
    await signIn(page, operator.token);
    await page.getByText('Olivia Operator (operator)').waitFor();
    await page.locator('.uplot canvas').waitFor();
    const figures = await page.locator('dl.cards .card').allTextContents();
    expect(figures.join(' ')).toMatch(/Succeeded \(24 h\)\d+/);
    expect(figures.join(' ')).toMatch(/Provider circuitclosed/);
    // The chart is a picture: a canvas with drawn pixels, and a text description for screen readers.
    const box = await page.locator('.uplot canvas').boundingBox();
    expect(box!.width).toBeGreaterThan(600);
    expect(await page.locator('figure.chart').getAttribute('aria-label')).toMatch(/Bars: recharges that finished/);
    await page.screenshot({ path: join(SHOTS, 'console-overview.png'), fullPage: true });
  });

  it('filters the list to one account (filters in the URL) and opens a recharge', async () => {
    const page = await newPage();
    await signIn(page, operator.token);
    await page.getByRole('link', { name: 'Recharges' }).click();
    await page.getByLabel('Account ID').fill(ACCOUNT_A);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(new RegExp(`/console/recharges\\?accountId=${ACCOUNT_A}`));
    await page.locator('table tbody tr').first().waitFor();
    const accounts = await page.locator('table tbody tr td:nth-child(3)').allTextContents();
    expect(accounts.length).toBe(2);
    expect(new Set(accounts)).toEqual(new Set([ACCOUNT_A]));
    // The URL is shareable: loading it fresh shows the same list.
    const shared = await newPage();
    await signIn(shared, operator.token);
    await shared.goto(page.url());
    await shared.locator('table tbody tr').first().waitFor();
    expect(await shared.locator('table tbody tr td:nth-child(3)').allTextContents()).toEqual(accounts);

    await page.getByRole('link', { name: timedOutA }).click();
    await page.getByRole('heading', { name: `Recharge ${timedOutA}` }).waitFor();
    expect(page.url()).toBe(`${base}/console/recharges/${timedOutA}`);
    expect(await page.locator('dl.facts').textContent()).toMatch(/TIMEOUT/);
  });

  it('resolves a FAILED/TIMEOUT recharge with a reason: SUCCEEDED, and the action is on its timeline (screenshot)', async () => {
    const page = await newPage(1280, 1200);
    await signIn(page, operator.token);
    await page.goto(`${base}/console/recharges/${timedOutA}`);
    await page.getByRole('button', { name: 'Resolve as succeeded…' }).click();
    const reason = page.getByLabel('Reason (at least 10 characters, kept in the audit trail)');
    await reason.fill('short');
    await page.getByRole('button', { name: 'Confirm: Resolve as succeeded' }).click();
    await page.getByText('Give a reason of at least 10 characters.').waitFor();
    await reason.fill('Credit TX-20261203-42 is visible in the BSS console');
    await page.getByLabel("Provider's transaction number (optional)").fill('TX-20261203-42');
    await page.getByRole('button', { name: 'Confirm: Resolve as succeeded' }).click();
    await page.getByText('Resolved: the recharge is now SUCCEEDED.').waitFor();
    expect(await page.locator('dl.facts').textContent()).toMatch(/SUCCEEDED/);
    const operatorItems = await page.locator('ol.timeline li.operator').allTextContents();
    expect(operatorItems.join('\n')).toMatch(/resolve by Olivia Operator/);
    expect(operatorItems.join('\n')).toMatch(/Credit TX-20261203-42 is visible in the BSS console/);
    expect(operatorItems.join('\n')).toMatch(/FAILED → SUCCEEDED \(operator/);
    expect(await page.locator('ol.timeline li[data-kind="ledger"]').count()).toBe(2);
    const [row] = await query<{ state: string }>(t.databaseUrl, 'SELECT state FROM recharges WHERE id = $1', [
      timedOutA,
    ]);
    expect(row.state).toBe('SUCCEEDED');
    await page.screenshot({ path: join(SHOTS, 'console-recharge.png'), fullPage: true });
  });

  it('shows a viewer no action buttons, and the API refuses the viewer', async () => {
    const page = await newPage();
    await signIn(page, viewer.token);
    await page.goto(`${base}/console/recharges/${timedOutForViewer}`);
    await page.getByText('You are signed in as a viewer').waitFor();
    expect(await page.getByRole('button', { name: /Resolve|Re-drive|Redeliver/ }).count()).toBe(0);
    // The page's own token, straight at the API: the refusal does not depend on the buttons being hidden.
    const status = await page.evaluate(`(async () => {
      const res = await fetch('/admin/v1/recharges/${timedOutForViewer}/resolve', {
        method: 'POST',
        headers: {
          Authorization: 'Bearer ' + sessionStorage.getItem('alicloud-recharge.operator-token'),
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({ outcome: 'succeeded', reason: 'viewer trying to act' }),
      });
      return { status: res.status, code: (await res.json()).code };
    })()`);
    expect(status).toEqual({ status: 403, code: 'UNAUTHORIZED' });
    const [row] = await query<{ state: string }>(t.databaseUrl, 'SELECT state FROM recharges WHERE id = $1', [
      timedOutForViewer,
    ]);
    expect(row.state).toBe('FAILED');
  });

  it('is readable at 390 px: nothing but tables scrolls sideways; the account page shows the live quota', async () => {
    const page = await newPage(390, 844);
    await signIn(page, operator.token);
    for (const path of ['/console', `/console/recharges?accountId=${ACCOUNT_A}`, `/console/accounts/${ACCOUNT_A}`]) {
      await page.goto(`${base}${path}`);
      await page.locator('main h1').waitFor();
      await page.waitForLoadState('networkidle');
      const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
      expect({ path, overflow }).toEqual({ path, overflow: 0 });
    }
    await page.getByRole('heading', { name: 'Provider quota (live)' }).waitFor();
    expect(await page.locator('main').textContent()).toMatch(/5000\.00 CNY/);
  });

  it('acknowledges a discrepancy from the keyboard (Tab, Enter, typing) with a note', async () => {
    const page = await newPage();
    await signIn(page, operator.token);
    await page.goto(`${base}/console/discrepancies`);
    await page.getByRole('link', { name: canceledWithSuccess }).waitFor();
    // Tab from the recharge link of the row to its button, Enter opens the form with the note focused.
    await page.getByRole('link', { name: canceledWithSuccess }).focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Acknowledge…');
    await page.keyboard.press('Enter');
    await page.keyboard.type('Customer refunded by hand, ticket T-7');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'acknowledged' }).waitFor();
    const [row] = await query<{ acknowledgement_note: string }>(
      t.databaseUrl,
      'SELECT acknowledgement_note FROM discrepancies WHERE recharge_id = $1',
      [canceledWithSuccess],
    );
    expect(row.acknowledgement_note).toBe('Customer refunded by hand, ticket T-7');
    await page.goto(`${base}/console/discrepancies?status=acknowledged`);
    expect(await page.locator('main table').textContent()).toMatch(/Olivia Operator at .*Customer refunded by hand/);
  });

  it('shows a rule created through /v1/rules on the rules page and the account page, with its last evaluation', async () => {
    const created = await t.http
      .post('/v1/rules')
      .set('Authorization', `Bearer ${client.apiKey}`)
      .send({
        accountId: ACCOUNT_A,
        currency: 'CNY',
        trigger: { type: 'threshold', below: 100000 },
        topUp: { type: 'target', amount: 300000 },
        limits: { maxCountPerDay: 2 },
      })
      .expect(201);
    const ruleId: string = created.body.id;
    // The quota (5000.00 CNY) is above the threshold: an evaluation with nothing to do.
    expect(await t.app.get(EvaluateRuleUseCase).evaluate(ruleId)).toMatchObject({ decision: 'above_threshold' });
    // A second client's rule for the account, disabled after failures: every client's rules show.
    const other = await t.createClient(['*']);
    const disabled = await t.http
      .post('/v1/rules')
      .set('Authorization', `Bearer ${other.apiKey}`)
      .send({
        accountId: ACCOUNT_A,
        currency: 'CNY',
        trigger: { type: 'schedule', cron: '0 9 1 * *', timezone: 'Europe/Berlin' },
        topUp: { type: 'fixed', amount: 5000 },
      })
      .expect(201);
    await query(
      t.databaseUrl,
      `UPDATE rules SET status = 'disabled', disabled_reason = '3 top-ups in a row did not succeed',
         consecutive_failures = 3, due_at = NULL WHERE id = $1`,
      [disabled.body.id],
    );

    const page = await newPage();
    await signIn(page, viewer.token);
    await page.getByRole('navigation').getByRole('link', { name: 'Rules' }).click();
    await page.getByRole('heading', { name: 'Auto-recharge rules' }).waitFor();
    const row = page.locator(`tr[data-rule-id="${ruleId}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells).toEqual([
      ruleId,
      'active',
      ACCOUNT_A,
      client.clientId,
      'quota below 1000.00 CNY',
      'up to 3000.00 CNY',
      '2 top-ups/day, cooldown 600 s',
      expect.stringMatching(/^above_threshold at .* UTC: .*quota 5000\.00 CNY$/),
      '0',
    ]);
    const off = await page.locator(`tr[data-rule-id="${disabled.body.id}"] td`).allTextContents();
    expect(off.slice(1, 5)).toEqual([
      'disabled3 top-ups in a row did not succeed',
      ACCOUNT_A,
      other.clientId,
      'schedule 0 9 1 * * (Europe/Berlin)',
    ]);
    expect(off[8]).toBe('3');
    // The status filter is in the URL and asks the API.
    await page.getByRole('link', { name: 'Disabled' }).click();
    await page.waitForURL(/\/console\/rules\?status=disabled$/);
    await page.locator(`tr[data-rule-id="${disabled.body.id}"]`).waitFor();
    expect(await page.locator(`tr[data-rule-id="${ruleId}"]`).count()).toBe(0);

    // The account page lists the same rules, linked from the rule's account cell.
    await page.getByRole('link', { name: 'All' }).click();
    await row.getByRole('link', { name: ACCOUNT_A }).click();
    await page.getByRole('heading', { name: `Account ${ACCOUNT_A}` }).waitFor();
    await page.locator(`tr[data-rule-id="${ruleId}"]`).waitFor();
    expect(await page.locator(`tr[data-rule-id="${disabled.body.id}"]`).count()).toBe(1);
    expect(await page.locator('main').textContent()).toMatch(/2 rules of every client/);
    // A viewer is shown no pause / resume button.
    expect(await page.getByRole('button', { name: /^(Pause|Resume) rule/ }).count()).toBe(0);
  });

  it('an operator pauses a rule from the rules page with a reason: paused, and the action is audited', async () => {
    const other = await t.createClient(['*']);
    const created = await t.http
      .post('/v1/rules')
      .set('Authorization', `Bearer ${other.apiKey}`)
      .send({
        accountId: ACCOUNT_B,
        currency: 'CNY',
        trigger: { type: 'threshold', below: 100000 },
        topUp: { type: 'fixed', amount: 50000 },
      })
      .expect(201);
    const ruleId: string = created.body.id;
    const page = await newPage();
    await signIn(page, operator.token);
    await page.goto(`${base}/console/rules?status=active`);
    await page.getByRole('button', { name: `Pause rule ${ruleId}` }).click();
    await page.getByRole('form', { name: `Pause rule ${ruleId}` }).waitFor();
    await page.keyboard.type('customer asked to stop top-ups, ticket T-9');
    await page.getByRole('button', { name: `Confirm: Pause rule ${ruleId}` }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Rule ${ruleId} is now paused.` })
      .waitFor();
    expect(await page.locator(`tr[data-rule-id="${ruleId}"]`).count()).toBe(0); // the list still shows active ones
    const seen = await t.http.get(`/v1/rules/${ruleId}`).set('Authorization', `Bearer ${other.apiKey}`).expect(200);
    expect(seen.body.status).toBe('paused');
    const audit = await query<{ action: string; reason: string }>(
      t.databaseUrl,
      `SELECT action, reason FROM operator_actions WHERE target_type = 'rule' AND target_id = $1`,
      [ruleId],
    );
    expect(audit).toEqual([{ action: 'pause_rule', reason: 'customer asked to stop top-ups, ticket T-9' }]);
    // From the account page, the same rule is resumed.
    await page.goto(`${base}/console/accounts/${ACCOUNT_B}`);
    await page.getByRole('button', { name: `Resume rule ${ruleId}` }).click();
    await page.keyboard.type('customer confirmed, top-ups back on');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page
      .getByRole('status')
      .filter({ hasText: `Rule ${ruleId} is now active.` })
      .waitFor();
    expect(await page.locator(`tr[data-rule-id="${ruleId}"] td`).nth(1).textContent()).toBe('active');
  });

  it('every form control has a label', async () => {
    const page = await newPage();
    await signIn(page, operator.token);
    await page.goto(`${base}/console/recharges`);
    await page.locator('form.filters').waitFor();
    const unlabelled = await page.evaluate(`Array.from(document.querySelectorAll('input, select, textarea'))
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
      .map((el) => el.outerHTML)`);
    expect(unlabelled).toEqual([]);
  });
});
