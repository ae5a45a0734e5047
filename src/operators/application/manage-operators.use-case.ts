import { Injectable } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { DomainError } from '../../../libs/shared/domain-error';
import { newId } from '../../../libs/shared/ids';
import { Operator } from '../domain/operator';
import { OperatorRepository } from './operator.repository';

@Injectable()
export class ManageOperatorsUseCase {
  constructor(
    private readonly operators: OperatorRepository,
    private readonly clock: Clock,
  ) {}

  /** The token is returned once; only its hash is stored. */
  async create(name: string, role: string): Promise<{ operator: Operator; token: string }> {
    const created = Operator.register(newId('opr'), name, role, this.clock.now());
    await this.operators.save(created.operator);
    return created;
  }

  list(): Promise<Operator[]> {
    return this.operators.list();
  }

  async revoke(id: string): Promise<Operator> {
    const operator = await this.operators.findById(id);
    if (!operator) throw new DomainError('NOT_FOUND', `operator ${id} not found`);
    operator.revoke(this.clock.now());
    await this.operators.save(operator);
    return operator;
  }
}
