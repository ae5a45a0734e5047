import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { Lifecycle } from '../health/lifecycle';
import { EvaluateRuleUseCase } from './application/evaluate-rule.use-case';
import { RuleRepository } from './application/ports/rule.repository';
import { RuleTelemetry } from './application/ports/rule-telemetry';

/**
 * The per-replica loop that evaluates due rules. Claims are leases in the database (SKIP LOCKED),
 * so every replica runs it and each rule is evaluated by one at a time; a rule whose replica died
 * is claimed again when its lease runs out. A new or re-activated rule is due at once; `wake`
 * spares it the poll interval on the replica that stored it.
 */
@Injectable()
export class RuleEvaluationWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  static readonly POLL_MS = 1000;
  static readonly CONCURRENCY = 4;
  static readonly GAUGE_REFRESH_MS = 15_000;
  private readonly logger = new Logger('Rules');
  private readonly inFlight = new Set<Promise<void>>();
  private loopDone: Promise<void> = Promise.resolve();
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private gaugeRefreshedAt = 0;

  constructor(
    private readonly evaluate: EvaluateRuleUseCase,
    private readonly rules: RuleRepository,
    private readonly telemetry: RuleTelemetry,
    private readonly lifecycle: Lifecycle,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.rulesEnabled) return;
    this.lifecycle.onDrain(() => this.stop());
    this.loopDone = this.loop();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stop();
    await this.loopDone;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.shutdownGraceMs)));
    await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
    clearTimeout(timer);
  }

  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private stop(): void {
    this.stopping = true;
    this.wake();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const free = RuleEvaluationWorker.CONCURRENCY - this.inFlight.size;
      let claimed = 0;
      try {
        await this.refreshGauge();
        if (free > 0) {
          const due = await this.evaluate.claimDue(free);
          claimed = due.length;
          for (const id of due) this.track(id);
        }
      } catch (err) {
        this.logger.error({ err }, 'claiming due rules failed; retrying shortly');
      }
      if (free > 0 && claimed === free) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, RuleEvaluationWorker.POLL_MS);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wakeUp = done;
      });
    }
  }

  private track(ruleId: string): void {
    const work: Promise<void> = this.evaluate
      .evaluate(ruleId)
      .then(() => undefined)
      .catch((err) =>
        this.logger.error(
          { err, ruleId },
          `evaluating rule ${ruleId} failed; it is evaluated again when its lease ends`,
        ),
      )
      .finally(() => {
        this.inFlight.delete(work);
        this.wake();
      });
    this.inFlight.add(work);
  }

  /** rules_disabled counts every replica's rules, so each replica reads it from the database now and then. */
  private async refreshGauge(): Promise<void> {
    if (Date.now() - this.gaugeRefreshedAt < RuleEvaluationWorker.GAUGE_REFRESH_MS) return;
    this.gaugeRefreshedAt = Date.now();
    this.telemetry.disabledRules(await this.rules.countDisabled());
  }
}
