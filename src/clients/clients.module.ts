import { Module } from '@nestjs/common';
import { AuthenticateClientUseCase } from './application/authenticate-client.use-case';
import { ClientRepository } from './application/client.repository';
import { ManageClientsUseCase } from './application/manage-clients.use-case';
import { MikroOrmClientRepository } from './infrastructure/mikro-orm-client.repository';

@Module({
  providers: [
    { provide: ClientRepository, useClass: MikroOrmClientRepository },
    AuthenticateClientUseCase,
    ManageClientsUseCase,
  ],
  exports: [ClientRepository, AuthenticateClientUseCase, ManageClientsUseCase],
})
export class ClientsModule {}
