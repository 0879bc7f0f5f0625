// The CloudFormation template: cfn-lint clean, and the security and fleet properties the deployment
// promises, asserted on the parsed template. The user data's embedded config is checked against the
// real config schema, its shell against `bash -n`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig, SSE_MODES, STORAGE_CLASSES } from '../../shared/config.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { loadTemplate, substitute, walk } from './cfn-yaml.ts';
import { RCLONE_PIN } from '../../scripts/rclone-pin.ts';
import { parseRcloneVersion, unsupportedReason } from '../../shared/rclone-version.ts';

const TEMPLATE = join(import.meta.dirname, '../../cloudformation/rclone-migrate.yaml');
const template = loadTemplate(TEMPLATE);
const resources = Object.entries(template.Resources);
const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
const props = (name: string): Record<string, unknown> => {
  const resource = template.Resources[name];
  if (!resource) throw new Error(`no resource ${name}`);
  return resource.Properties ?? {};
};

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Sid?: string };
const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Every statement of every identity policy (inline role policies and standalone policies). */
function identityStatements(): Array<{ role: string; statement: Statement }> {
  const out: Array<{ role: string; statement: Statement }> = [];
  for (const [name, r] of ofType('AWS::IAM::Role')) {
    for (const policy of (r.Properties?.Policies ?? []) as Array<{ PolicyDocument: { Statement: Statement[] } }>) {
      for (const statement of policy.PolicyDocument.Statement) out.push({ role: name, statement });
    }
  }
  for (const [name, r] of [...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')]) {
    const doc = r.Properties?.PolicyDocument as { Statement: Statement[] };
    for (const statement of doc.Statement) out.push({ role: name, statement });
  }
  return out;
}

void t.test(
  'cfn-lint passes with no errors and no warnings',
  { skip: spawnSync('cfn-lint', ['--version']).status !== 0 },
  async (t) => {
    const res = spawnSync('cfn-lint', [TEMPLATE], { encoding: 'utf8' });
    t.equal(`${res.stdout}${res.stderr}`.trim(), '', 'no findings');
    t.equal(res.status, 0);
  },
);

void t.test('IAM: no wildcard actions, no unscoped data access', async (t) => {
  const statements = identityStatements();
  t.ok(statements.length > 10, `${statements.length} statements`);
  for (const { role, statement } of statements) {
    t.equal(statement.Effect, 'Allow', `${role}/${statement.Sid}: identity policies only allow`);
    for (const action of asList(statement.Action)) {
      t.notOk(action.includes('*'), `${role}/${statement.Sid}: action ${action} has no wildcard`);
    }
    const unscoped = asList(statement.Resource).includes('*');
    // ECR's login call has no resource-level permissions; nothing else may be unscoped.
    if (unscoped)
      t.same(asList(statement.Action), ['ecr:GetAuthorizationToken'], `${role}/${statement.Sid}: Resource "*"`);
  }
  const dataActions = statements.filter(({ statement }) =>
    asList(statement.Action).some((a) => /^(s3|sqs|secretsmanager|kms):/.test(a)),
  );
  for (const { role, statement } of dataActions) {
    t.notOk(asList(statement.Resource).includes('*'), `${role}/${statement.Sid}: data actions name their resources`);
  }
  const s3Objects = statements.find((s) => s.statement.Sid === 'DestinationObjects')?.statement;
  t.same(s3Objects?.Resource, { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${DestinationBucket}/${DestinationPrefix}*' });
  const secrets = statements.filter((s) => asList(s.statement.Action).includes('secretsmanager:GetSecretValue'));
  t.equal(secrets.length, 2, 'worker and lister read the secrets');
  for (const { statement } of secrets) {
    t.same(statement.Resource, [
      { Ref: 'SourceEndpointSecret' },
      { Ref: 'SourceAccessKeySecret' },
      { Ref: 'SourceSecretKeySecret' },
    ]);
  }
  const lister = statements.filter((s) => s.role === 'ListerTaskRole').flatMap((s) => asList(s.statement.Action));
  t.notOk(lister.includes('sqs:DeleteMessage'), 'the lister cannot consume the queue');
  t.notOk(
    statements.some((s) => s.role === 'ListerTaskRole' && JSON.stringify(s.statement).includes('DestinationBucket}/')),
    'the lister cannot read or write destination objects (it may list them)',
  );
  t.notOk(lister.includes('s3:DeleteObject'), 'the lister deletes nothing');
});

void t.test('KMS key: rotation on, only the account administers it, logs use is scoped to this stack', async (t) => {
  const key = props('DataKey');
  t.equal(key.EnableKeyRotation, true);
  const statements = (key.KeyPolicy as { Statement: Array<Statement & { Principal: unknown; Condition?: unknown }> })
    .Statement;
  for (const s of statements) {
    if (asList(s.Action).includes('kms:*')) {
      t.same(
        s.Principal,
        { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } },
        'kms:* only for the account root (delegation to IAM)',
      );
    } else {
      t.ok(s.Condition, `${s.Sid}: service use is conditioned`);
    }
  }
});

void t.test('encryption at rest: queues, secrets, logs, topic and volumes', async (t) => {
  const queues = ofType('AWS::SQS::Queue');
  t.equal(queues.length, 2);
  for (const [name, q] of queues) t.same(q.Properties?.KmsMasterKeyId, { Ref: 'DataKey' }, `${name} uses the CMK`);
  t.same((props('WorkQueue').RedrivePolicy as Record<string, unknown>).deadLetterTargetArn, {
    'Fn::GetAtt': ['DeadLetterQueue', 'Arn'],
  });
  for (const [name] of ofType('AWS::SQS::QueueInlinePolicy')) {
    const doc = props(name).PolicyDocument as { Statement: Array<{ Effect: string; Condition: unknown }> };
    t.match(
      doc.Statement[0],
      { Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      `${name} denies plain HTTP`,
    );
  }
  const secrets = ofType('AWS::SecretsManager::Secret');
  t.equal(secrets.length, 3, 'the three source secrets');
  for (const [name, s] of secrets) {
    t.same(s.Properties?.KmsKeyId, { Ref: 'DataKey' }, `${name} uses the CMK`);
    t.notOk(s.Properties?.SecretString, `${name} has no value in the template`);
  }
  const logs = ofType('AWS::Logs::LogGroup');
  t.ok(logs.length >= 2);
  for (const [name, l] of logs) {
    t.same(l.Properties?.KmsKeyId, { 'Fn::GetAtt': ['DataKey', 'Arn'] }, `${name} uses the CMK`);
    t.same(l.Properties?.RetentionInDays, { Ref: 'LogRetentionDays' }, `${name} retention is the parameter`);
  }
  t.ok(Number(template.Parameters.LogRetentionDays?.Default) >= 90, 'default retention outlasts a typical migration');
  t.same(props('AlarmTopic').KmsMasterKeyId, { Ref: 'DataKey' });
  t.match(props('StateBucket'), {
    BucketEncryption: {
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }],
    },
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    },
  });
  t.match(props('StateBucketTransportPolicy'), {
    PolicyDocument: { Statement: [{ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }] },
  });
  const lt = props('WorkerLaunchTemplate').LaunchTemplateData as Record<string, unknown>;
  for (const mapping of lt.BlockDeviceMappings as Array<{ Ebs: { Encrypted: boolean } }>)
    t.equal(mapping.Ebs.Encrypted, true);
  t.equal((props('ListerRepository').EncryptionConfiguration as Record<string, unknown>).EncryptionType, 'KMS');
});

void t.test('network: three public subnets in three AZs, no NAT, S3 gateway endpoint, nothing inbound', async (t) => {
  const subnets = ofType('AWS::EC2::Subnet');
  t.equal(subnets.length, 3);
  t.same(
    subnets.map(([, s]) => (s.Properties?.AvailabilityZone as { 'Fn::Select': [number, unknown] })['Fn::Select'][0]),
    [0, 1, 2],
    'one subnet in each of three AZs',
  );
  t.equal(ofType('AWS::EC2::NatGateway').length, 0, 'no NAT gateway (it charges per GB)');
  t.equal(ofType('AWS::EC2::InternetGateway').length, 1);
  const endpoints = ofType('AWS::EC2::VPCEndpoint');
  t.match(endpoints[0]?.[1].Properties, {
    VpcEndpointType: 'Gateway',
    ServiceName: { 'Fn::Sub': 'com.amazonaws.${AWS::Region}.s3' },
  });
  t.equal(ofType('AWS::EC2::SecurityGroupIngress').length, 0, 'no ingress rule resources');
  for (const [name, sg] of ofType('AWS::EC2::SecurityGroup')) {
    t.notOk(sg.Properties?.SecurityGroupIngress, `${name} has no ingress`);
    t.ok(sg.Properties?.SecurityGroupEgress, `${name} says its egress explicitly`);
  }
});

void t.test(
  'workers: IMDSv2 required, 0..MaxInstances, backlog scaling from and to zero, lifecycle hook',
  async (t) => {
    const lt = props('WorkerLaunchTemplate').LaunchTemplateData as Record<string, Record<string, unknown>>;
    t.match(lt.MetadataOptions, { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 });
    const group = props('WorkerGroup');
    t.equal(group.MinSize, '0');
    t.same(group.MaxSize, { Ref: 'MaxInstances' });
    t.equal(template.Parameters.MaxInstances?.Default, 5);
    t.match((group.LifecycleHookSpecificationList as unknown[])[0], {
      LifecycleHookName: 'rclone-migrate-drain',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      DefaultResult: 'CONTINUE',
    });
    const hook = (group.LifecycleHookSpecificationList as Array<{ HeartbeatTimeout: number }>)[0];
    t.ok((hook?.HeartbeatTimeout ?? 0) > 120, 'the hook outlasts the default drain (120 s)');
    const tracking = props('BacklogPerInstancePolicy');
    t.equal(tracking.PolicyType, 'TargetTrackingScaling');
    const metrics = (
      tracking.TargetTrackingConfiguration as {
        CustomizedMetricSpecification: { Metrics: Array<Record<string, unknown>> };
      }
    ).CustomizedMetricSpecification.Metrics;
    t.match(
      metrics.find((m) => m.ReturnData === true),
      { Expression: /queued \+ inflight/ },
    );
    t.same(
      (props('ScaleFromZeroAlarm').AlarmActions as unknown[])[0],
      { Ref: 'ScaleFromZeroPolicy' },
      'an alarm starts the first worker from zero',
    );
    const instanceTypes = template.Parameters.InstanceType;
    t.ok(
      instanceTypes && template.Parameters.RcloneProcessesPerInstance && template.Parameters.ArtifactBucket,
      'parameters for instance type, rclone processes and artifact location',
    );
  },
);

/** The user data with every ${...} replaced by a plausible value. */
function userData(): string {
  const lt = props('WorkerLaunchTemplate').LaunchTemplateData as { UserData: { 'Fn::Base64': { 'Fn::Sub': string } } };
  return substitute(lt.UserData['Fn::Base64']['Fn::Sub'], {
    RcloneProcessesPerInstance: '6',
    'AWS::Region': 'eu-west-1',
    'AWS::StackName': 'migration',
    WorkQueue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/migration-work',
    DeadLetterQueue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/migration-dlq',
    DestinationStorageClass: 'GLACIER_IR',
    DestinationEncryption: 'SSE-KMS',
    DestinationKmsKeyArn: KMS_KEY_ARN,
    DestinationBucketKey: 'false',
  });
}

const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function heredoc(script: string, marker: string): string {
  const match = new RegExp(`<<'${marker}'\\n([\\s\\S]*?)\\n${marker}\\n`).exec(script);
  if (!match?.[1]) throw new Error(`no heredoc ${marker}`);
  return match[1];
}

void t.test('user data: valid bash, verified artifacts, a config the daemon accepts, logs shipped', async (t) => {
  const script = userData();
  const syntax = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  t.equal(syntax.status, 0, `bash -n: ${syntax.stderr}`);
  t.match(script, /set -Eeuo pipefail/);
  t.equal((script.match(/sha256sum --check --strict/g) ?? []).length, 1, 'one verifying fetch function');
  t.match(script, /fetch 'rclone-v\S+-linux-amd64\.zip' '\S+'/, 'rclone is fetched with its checksum');
  t.match(script, /fetch 'SUB_PackageFile' 'SUB_PackageSha256'/, 'the package is fetched with its checksum');
  t.match(script, /systemctl enable --now rclone-migrate\.service/);

  const configText = heredoc(script, 'JSON');
  const dir = mkdtempSync(join(tmpdir(), 'rm-cfn-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, configText);
  const config = loadConfig({ env: {}, argv: ['--config', file] });
  t.equal(config.rclone.children, 6);
  t.equal(config.fleet.enabled, 'on');
  t.equal(config.fleet.autoScalingGroupName, 'migration-workers');
  t.equal(config.fleet.lifecycleHookName, 'rclone-migrate-drain', 'the hook the group defines');
  t.equal(config.queue.url, 'https://sqs.eu-west-1.amazonaws.com/123456789012/migration-work');
  t.equal(config.source.secretEndpoint, '/rclone-migrate/migration/source_endpoint', 'the secret the stack creates');
  t.same(
    [config.dest.storageClass, config.dest.sse, config.dest.sseKmsKeyId, config.dest.sseBucketKey],
    ['GLACIER_IR', 'SSE-KMS', KMS_KEY_ARN, false],
    'storage class and encryption parameters reach the worker',
  );

  const agent = JSON.parse(heredoc(script, 'CWAGENT')) as {
    logs: { logs_collected: { files: { collect_list: Array<{ file_path: string }> } } };
  };
  t.ok(agent.logs.logs_collected.files.collect_list.some((f) => f.file_path === '/var/log/rclone-migrate/worker.log'));
  t.match(heredoc(script, 'UNIT'), /journalctl --unit=rclone-migrate\.service --follow/);
});

void t.test('lister: Fargate task running `rclone-migrate list` with its settings; ready-to-run output', async (t) => {
  const task = props('ListerTaskDefinition');
  t.same(task.RequiresCompatibilities, ['FARGATE']);
  const container = (
    task.ContainerDefinitions as Array<{ Command: string[]; Environment: Array<{ Name: string }> }>
  )[0];
  t.same(container?.Command, ['list']);
  const names = container?.Environment.map((e) => e.Name) ?? [];
  for (const name of ['SOURCE_BUCKET', 'DEST_BUCKET', 'QUEUE_URL', 'PREFIX']) t.ok(names.includes(name), name);
  const command = substitute((template.Outputs.RunListerCommand?.Value as { 'Fn::Sub': string })['Fn::Sub']);
  t.match(command, /^aws ecs run-task .*--launch-type FARGATE .*--task-definition .*assignPublicIp=ENABLED/);
});

void t.test('dashboard and dead-letter alarm', async (t) => {
  const body = JSON.parse(substitute((props('Dashboard').DashboardBody as { 'Fn::Sub': string })['Fn::Sub'])) as {
    widgets: Array<{ properties: { title: string; metrics?: unknown[][] } }>;
  };
  const titles = body.widgets.map((w) => w.properties.title).join(' | ');
  for (const want of [
    /queue depth/i,
    /dead-letter/i,
    /fleet size/i,
    /objects copied per minute/i,
    /bytes copied per minute/i,
  ]) {
    t.match(titles, want);
  }
  const published = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
  const custom = body.widgets
    .flatMap((w) => w.properties.metrics ?? [])
    .filter((m) => m[0] === 'RcloneMigrate')
    .map((m) => m[1] as string);
  t.ok(custom.length >= 2);
  for (const name of custom) t.ok(published.has(name), `${name} is a metric the worker exposes`);
  // A paused fleet alarms, per reason: the CloudWatch agent must publish the gauge with its reason label.
  t.match(props('StoresUnreachableAlarm'), { MetricName: 'rclone_migrate_stores_unreachable', Threshold: 0 });
  t.match(props('StoresRefuseCredentialsAlarm'), {
    MetricName: 'rclone_migrate_stores_unavailable',
    Dimensions: [{ Name: 'job' }, { Name: 'reason', Value: 'auth' }],
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: 0,
  });
  for (const alarm of ['StoresUnreachableAlarm', 'StoresRefuseCredentialsAlarm']) {
    t.ok(published.has(props(alarm).MetricName as string), `${alarm}: a metric the worker exposes`);
  }
  type Declaration = { dimensions: string[][]; metric_selectors: string[] };
  const emf = (
    JSON.parse(heredoc(userData(), 'CWAGENT')) as {
      logs: { metrics_collected: { prometheus: { emf_processor: { metric_declaration: Declaration[] } } } };
    }
  ).logs.metrics_collected.prometheus.emf_processor.metric_declaration;
  t.ok(
    emf.some(
      (d) =>
        d.metric_selectors.includes('^rclone_migrate_stores_unavailable$') &&
        d.dimensions.some((dims) => dims.includes('reason')),
    ),
    'the agent publishes stores_unavailable by reason',
  );
  t.match(props('DeadLetterAlarm'), {
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Dimensions: [{ Value: { 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] } }],
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: 0,
  });
  // Every !Sub reference in the template names a parameter, a resource or a pseudo parameter.
  const known = new Set([...Object.keys(template.Parameters), ...Object.keys(template.Resources)]);
  for (const node of walk(template.Resources)) {
    if (node && typeof node === 'object' && 'Fn::Sub' in node && typeof node['Fn::Sub'] === 'string') {
      for (const [, ref] of node['Fn::Sub'].matchAll(/\$\{([^}!]+)\}/g)) {
        const base = (ref ?? '').split('.')[0] ?? '';
        if (!base.startsWith('AWS::')) t.ok(known.has(base), `\${${ref}} resolves`);
      }
    }
  }
});

void t.test('the workers run the pinned rclone release by default, in the template and in deploy.sh', async (t) => {
  t.equal(String(template.Parameters.RcloneVersion?.Default), RCLONE_PIN.version);
  const deploy = readFileSync(join(import.meta.dirname, '../../scripts/deploy.sh'), 'utf8');
  t.match(deploy, new RegExp(`RCLONE_VERSION=\\$\\{RCLONE_VERSION:-${RCLONE_PIN.version.replaceAll('.', '\\.')}\\}`));
  t.equal(
    unsupportedReason(parseRcloneVersion(`rclone v${RCLONE_PIN.version}`)),
    undefined,
    'which the worker accepts',
  );
});

void t.test(
  'destination storage class and encryption: parameters the config accepts, and the IAM they need',
  async (t) => {
    const p = template.Parameters as Record<
      string,
      { AllowedValues?: string[]; Default?: string; AllowedPattern?: string }
    >;
    t.same(p.DestinationStorageClass?.AllowedValues, [...STORAGE_CLASSES], 'the storage classes the worker accepts');
    t.equal(p.DestinationStorageClass?.Default, 'STANDARD');
    t.same(p.DestinationEncryption?.AllowedValues, [...SSE_MODES], 'the encryption modes the worker accepts');
    t.equal(p.DestinationEncryption?.Default, 'bucket');
    const pattern = new RegExp(p.DestinationKmsKeyArn?.AllowedPattern ?? '^$');
    t.ok(pattern.test(KMS_KEY_ARN) && pattern.test(''), 'a key ARN, or empty');
    t.notOk(pattern.test('alias/migration'), 'an alias cannot be granted in IAM: a key ARN is asked for');

    const objects = identityStatements().find((s) => s.statement.Sid === 'DestinationObjects')?.statement;
    t.ok(asList(objects?.Action ?? []).includes('s3:PutObjectTagging'), 'tags may be written (x-amz-tagging needs it)');
    const kms = template.Resources.WorkerDestinationKmsPolicy;
    t.equal(kms?.Condition, 'HasDestinationKmsKey', 'KMS use is granted only with SSE-KMS and a key');
    const statement = (kms?.Properties?.PolicyDocument as { Statement: Array<Statement & { Condition?: unknown }> })
      .Statement[0];
    t.same(asList(statement?.Action ?? []).sort(), ['kms:Decrypt', 'kms:GenerateDataKey']);
    t.same(statement?.Resource, { Ref: 'DestinationKmsKeyArn' }, 'that key only');
    t.match(JSON.stringify(statement?.Condition), /kms:ViaService/, 'and only through S3');
    t.same(kms?.Properties?.Roles, [{ Ref: 'WorkerRole' }]);
  },
);
