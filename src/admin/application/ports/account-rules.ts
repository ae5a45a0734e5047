/**
 * The auto-recharge rules of an account, for the operator's account page (every client's). Until
 * the service has rules, the module binds NoAccountRules; the rules feature binds its own reader.
 */
export abstract class AccountRules {
  abstract forAccount(accountId: string): Promise<Array<Record<string, unknown>>>;
}

export class NoAccountRules extends AccountRules {
  async forAccount(): Promise<Array<Record<string, unknown>>> {
    return [];
  }
}
