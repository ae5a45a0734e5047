import { Operator } from '../domain/operator';

export abstract class OperatorRepository {
  abstract save(operator: Operator): Promise<void>;
  abstract findById(id: string): Promise<Operator | null>;
  abstract findByTokenHash(hash: string): Promise<Operator | null>;
  abstract list(): Promise<Operator[]>;
}
