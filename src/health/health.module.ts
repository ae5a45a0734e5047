import { Controller, Get, Global, Logger, Module } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { EntityManager } from '@mikro-orm/postgresql';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { pendingMigrationCount } from '../database/migrations';
import { Lifecycle } from './lifecycle';

@ApiTags('operations')
@Controller('health')
class HealthController {
  private readonly logger = new Logger('Health');

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly em: EntityManager,
    private readonly lifecycle: Lifecycle,
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is up' })
  live() {
    return this.health.check([async () => this.indicator.check('process').up()]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: database reachable, migrations applied, not draining' })
  ready() {
    return this.health.check([
      async () => {
        const i = this.indicator.check('lifecycle');
        return this.lifecycle.draining ? i.down({ draining: true }) : i.up({ draining: false });
      },
      async () => {
        const i = this.indicator.check('database');
        try {
          const pending = await pendingMigrationCount((sql) => this.em.getConnection().execute(sql));
          return pending === 0 ? i.up({ pendingMigrations: 0 }) : i.down({ pendingMigrations: pending });
        } catch (err) {
          // The cause goes to the log (redacted), never to whoever can reach the probe.
          this.logger.warn({ err }, 'readiness: database check failed');
          return i.down({ reachable: false });
        }
      },
    ]);
  }
}

@Global()
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', gracefulShutdownTimeoutMs: 0 })],
  controllers: [HealthController],
  providers: [Lifecycle],
  exports: [Lifecycle],
})
export class HealthModule {}
