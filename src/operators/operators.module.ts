import { Module } from '@nestjs/common';
import { AuthenticateOperatorUseCase } from './application/authenticate-operator.use-case';
import { ManageOperatorsUseCase } from './application/manage-operators.use-case';
import { OperatorRepository } from './application/operator.repository';
import { PgOperatorRepository } from './infrastructure/pg-operator.repository';

@Module({
  providers: [
    { provide: OperatorRepository, useClass: PgOperatorRepository },
    AuthenticateOperatorUseCase,
    ManageOperatorsUseCase,
  ],
  exports: [OperatorRepository, AuthenticateOperatorUseCase, ManageOperatorsUseCase],
})
export class OperatorsModule {}
