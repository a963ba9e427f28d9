"""Which input changes make the engine replace a resource instead of updating it in place.

Source: the `ForceNew` attributes of the Terraform AWS provider's resource schemas (v6, which
pulumi-aws 7.51.1 bridges), named as Pulumi inputs (camelCase), and the Kubernetes API's immutable
fields (pulumi-kubernetes 4.34.2 replaces the object when one changes). `ALL` marks types whose
every argument but the tags is `ForceNew`. A test checks that every type the programs emit is
listed here, so a new resource type cannot slip through as "update in place".
"""

from __future__ import annotations

#: Every input but the tags forces replacement.
ALL = ("*",)
#: Inputs that never force replacement on their own.
NEVER: tuple[str, ...] = ()

FORCE_NEW: dict[str, tuple[str, ...]] = {
    # API Gateway (REST)
    "aws:apigateway/account:Account": NEVER,
    "aws:apigateway/apiKey:ApiKey": ("value",),
    "aws:apigateway/basePathMapping:BasePathMapping": ("domainName", "domainNameId"),
    "aws:apigateway/deployment:Deployment": ("restApi", "triggers", "variables"),
    "aws:apigateway/domainName:DomainName": (
        "domainName",
        "certificateBody",
        "certificateChain",
        "certificatePrivateKey",
        "certificateName",
    ),
    "aws:apigateway/methodSettings:MethodSettings": ("restApi", "stageName", "methodPath"),
    "aws:apigateway/restApi:RestApi": NEVER,
    "aws:apigateway/stage:Stage": ("restApi", "stageName"),
    "aws:apigateway/usagePlan:UsagePlan": NEVER,
    "aws:apigateway/usagePlanKey:UsagePlanKey": ("keyId", "keyType", "usagePlanId"),
    "aws:apigateway/vpcLink:VpcLink": ("targetArn",),
    # API Gateway (HTTP APIs)
    "aws:apigatewayv2/api:Api": ("protocolType",),
    "aws:apigatewayv2/apiMapping:ApiMapping": ("domainName",),
    "aws:apigatewayv2/authorizer:Authorizer": ("apiId",),
    "aws:apigatewayv2/domainName:DomainName": ("domainName",),
    "aws:apigatewayv2/integration:Integration": ("apiId", "integrationType"),
    "aws:apigatewayv2/route:Route": ("apiId",),
    "aws:apigatewayv2/stage:Stage": ("apiId", "name"),
    "aws:apigatewayv2/vpcLink:VpcLink": ("securityGroupIds", "subnetIds"),
    # Application Auto Scaling
    "aws:appautoscaling/policy:Policy": ("name", "resourceId", "scalableDimension", "serviceNamespace"),
    "aws:appautoscaling/scheduledAction:ScheduledAction": ("name", "resourceId", "serviceNamespace"),
    "aws:appautoscaling/target:Target": ("resourceId", "scalableDimension", "serviceNamespace"),
    # CloudWatch and EventBridge
    "aws:cloudwatch/eventRule:EventRule": ("name", "namePrefix", "eventBusName"),
    "aws:cloudwatch/eventTarget:EventTarget": ("rule", "targetId", "eventBusName"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix", "logGroupClass"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name",),
    # EC2 and the VPC
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ("vpcId",),
    "aws:ec2/eip:Eip": ("domain", "publicIpv4Pool", "networkBorderGroup"),
    "aws:ec2/flowLog:FlowLog": ALL,
    "aws:ec2/internetGateway:InternetGateway": NEVER,
    "aws:ec2/natGateway:NatGateway": ("allocationId", "subnetId", "connectivityType", "privateIp"),
    "aws:ec2/route:Route": ("routeTableId", "destinationCidrBlock", "destinationIpv6CidrBlock"),
    "aws:ec2/routeTable:RouteTable": ("vpcId",),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("subnetId", "gatewayId"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "description", "vpcId"),
    "aws:ec2/subnet:Subnet": ("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"),
    "aws:ec2/vpc:Vpc": ("cidrBlock", "instanceTenancy"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("vpcId", "serviceName", "vpcEndpointType"),
    # ECR
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ("repository",),
    "aws:ecr/repository:Repository": ("name", "encryptionConfigurations"),
    # EKS
    "aws:eks/accessEntry:AccessEntry": ("clusterName", "principalArn", "type"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ("clusterName", "principalArn", "policyArn"),
    "aws:eks/addon:Addon": ("clusterName", "addonName"),
    "aws:eks/cluster:Cluster": (
        "name",
        "roleArn",
        "encryptionConfig",
        "kubernetesNetworkConfig",
        "outpostConfig",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "clusterName",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "subnetIds",
        "amiType",
        "capacityType",
        "diskSize",
        "instanceTypes",
        "remoteAccess",
    ),
    # IAM and KMS
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ALL,
    "aws:kms/alias:Alias": ("name", "namePrefix"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"),
    # Elastic Load Balancing. A network load balancer's subnets can only be added to in place (the
    # provider's CustomizeDiff replaces it when one is removed): any change is shown as forcing.
    "aws:lb/listener:Listener": ("loadBalancerArn",),
    "aws:lb/loadBalancer:LoadBalancer": (
        "name",
        "namePrefix",
        "internal",
        "loadBalancerType",
        "customerOwnedIpv4Pool",
        "subnets",
    ),
    "aws:lb/targetGroup:TargetGroup": (
        "name",
        "namePrefix",
        "port",
        "protocol",
        "protocolVersion",
        "targetType",
        "vpcId",
        "ipAddressType",
    ),
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": ALL,
    # Lambda
    "aws:lambda/function:Function": ("name",),
    "aws:lambda/permission:Permission": ALL,
    # S3
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("bucket", "expectedBucketOwner"),
    "aws:s3/bucketLogging:BucketLogging": ("bucket", "expectedBucketOwner"),
    "aws:s3/bucketNotification:BucketNotification": ("bucket",),
    "aws:s3/bucketObjectv2:BucketObjectv2": ("bucket", "key"),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("bucket",),
    "aws:s3/bucketPolicy:BucketPolicy": ("bucket",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("bucket",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket",
        "expectedBucketOwner",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("bucket", "expectedBucketOwner"),
    # SageMaker
    "aws:sagemaker/endpoint:Endpoint": ("name",),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ALL,
    "aws:sagemaker/model:Model": ALL,
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ("modelPackageGroupName",),
    "aws:sagemaker/pipeline:Pipeline": ("pipelineName",),
    # EventBridge Scheduler, Step Functions, SNS, SQS
    "aws:scheduler/schedule:Schedule": ("name", "namePrefix", "groupName"),
    "aws:sfn/stateMachine:StateMachine": ("name", "namePrefix"),
    "aws:sns/topic:Topic": ("name", "namePrefix", "fifoTopic"),
    "aws:sns/topicSubscription:TopicSubscription": ("topic", "protocol", "endpoint"),
    "aws:sqs/queue:Queue": ("name", "namePrefix", "fifoQueue"),
    "aws:sqs/queuePolicy:QueuePolicy": ("queueUrl",),
    # WAF
    "aws:wafv2/webAcl:WebAcl": ("name", "namePrefix", "scope"),
    "aws:wafv2/webAclAssociation:WebAclAssociation": ("resourceArn", "webAclArn"),
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": ("resourceArn",),
    # Kubernetes: a changed name or namespace is a new object; and the API's immutable fields.
    "kubernetes:apps/v1:Deployment": ("metadata.name", "metadata.namespace", "spec.selector"),
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ("metadata.name", "metadata.namespace"),
    "kubernetes:batch/v1:CronJob": ("metadata.name", "metadata.namespace"),
    "kubernetes:core/v1:Namespace": ("metadata.name",),
    "kubernetes:core/v1:Service": ("metadata.name", "metadata.namespace", "spec.clusterIP", "spec.clusterIPs"),
    "kubernetes:core/v1:ServiceAccount": ("metadata.name", "metadata.namespace"),
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    "kubernetes:networking.k8s.io/v1:Ingress": ("metadata.name", "metadata.namespace"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": ("metadata.name", "metadata.namespace"),
    "kubernetes:policy/v1:PodDisruptionBudget": ("metadata.name", "metadata.namespace"),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": ("metadata.name", "metadata.namespace"),
    # A RoleBinding's roleRef cannot be changed (the API server refuses it): a new binding.
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("metadata.name", "metadata.namespace", "roleRef"),
    # Providers: a changed region or cluster is a new provider, and every resource it manages moves.
    "pulumi:providers:aws": ("region",),
    "pulumi:providers:kubernetes": ("kubeconfig.clusters",),
}

#: Resources whose replacement loses data or breaks what depends on their identity.
STATEFUL = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "aws:eks/cluster:Cluster",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/vpc:Vpc",
    }
)


def forcing(type_: str, paths: list[str]) -> list[str]:
    """The changed input paths that force `type_` to be replaced (none for components)."""
    rules = FORCE_NEW.get(type_)
    if rules is None:
        return []
    found = []
    for path in paths:
        if path.startswith("options.") or path.split(".", 1)[0] in ("tags", "tagsAll"):
            continue
        if rules == ALL or any(path == rule or path.startswith((f"{rule}.", f"{rule}[")) for rule in rules):
            found.append(path)
    return found
