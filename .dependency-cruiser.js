/** The layering rule of the house style, enforced in CI (`npm run layers`). */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-plain-typescript',
      comment: 'The domain imports nothing from frameworks, drivers or other layers.',
      severity: 'error',
      from: { path: '/domain/' },
      to: {
        pathNot: ['/domain/', '^libs/shared/', '^node_modules/uuidv7', '^node_modules/croner'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'application-sees-only-domain-and-ports',
      comment: 'Use cases depend on the domain, their ports and framework-free shared code (plus Nest DI decorators).',
      severity: 'error',
      from: { path: '/application/' },
      to: {
        path: [
          '/infrastructure/',
          '^src/api/',
          '^src/[^/]+\\.module\\.ts$',
          '@mikro-orm',
          '@alicloud',
          '^node_modules/pg/',
        ],
      },
    },
    {
      name: 'adapters-do-not-reach-into-other-adapters-upwards',
      comment: 'Ports never import adapters.',
      severity: 'error',
      from: { path: '/application/ports/' },
      to: { path: '/infrastructure/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(\\.spec\\.ts$|^dist/)' },
  },
};
