"""Fixed egress addresses: the network that ``make package FIXED_EGRESS=1`` and ``make terraform
FIXED_EGRESS=1`` add to the stack, written once here as CloudFormation resources, from which
dev/package.py takes them as they are and dev/terraform.py translates them.

Receivers behind firewalls allow the addresses deliveries come from. With the option, the
delivery function and the test-send function (``VPC_FUNCTIONS``) run in a VPC of their own
whose private subnets, one per availability zone (``ZONES``), leave through a NAT gateway with
an Elastic IP each: every delivery and every test send leaves from those addresses, which the
stack outputs (``EgressAddresses``). Every other function stays out of the VPC. What else is
in it, and why (docs/deploy.md, "Fixed egress addresses", says what it costs):

- a DynamoDB gateway endpoint on the private route tables: the delivery function's reads and
  writes (the most of its AWS traffic) do not pass the NAT gateways, whose every GB is billed;
- a security group that lets nothing in;
- a network ACL on the private subnets that refuses the private, shared and link-local ranges
  outbound: the destination checks (chalicelib/delivery/destinations.py) already refuse them,
  and this second wall holds even if a check were wrong, now that a function can reach what the
  VPC holds. (AWS's DNS resolver, at the VPC's base + 2, is not filtered by ACLs.)
"""

ZONES = 2  # NAT gateways, and so addresses: one per zone, so that a zone's outage stops no delivery
CIDR = "10.80.0.0/16"
VPC_FUNCTIONS = ("deliver", "test_send")  # Chalice's names; the others stay out of the VPC
# Refused outbound from the private subnets, whatever the destination checks say.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def public_subnet(zone):
    return f"10.80.{zone}.0/24"


def private_subnet(zone):
    return f"10.80.{16 * (zone + 1)}.0/20"  # room for the functions' network interfaces


def _tags(name):
    return [{"Key": "Name", "Value": {"Fn::Sub": "${AWS::StackName}-" + name}}]


def resources(zones=ZONES):
    """The network's CloudFormation resources, by logical ID."""
    r = {
        "EgressVpc": {"Type": "AWS::EC2::VPC", "Properties": {
            "CidrBlock": CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True, "Tags": _tags("egress")}},
        "EgressInternetGateway": {"Type": "AWS::EC2::InternetGateway", "Properties": {"Tags": _tags("egress")}},
        "EgressGatewayAttachment": {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {
            "VpcId": {"Ref": "EgressVpc"}, "InternetGatewayId": {"Ref": "EgressInternetGateway"}}},
        "EgressPublicRoutes": {"Type": "AWS::EC2::RouteTable", "Properties": {
            "VpcId": {"Ref": "EgressVpc"}, "Tags": _tags("egress-public")}},
        "EgressPublicDefaultRoute": {"Type": "AWS::EC2::Route", "DependsOn": "EgressGatewayAttachment", "Properties": {
            "RouteTableId": {"Ref": "EgressPublicRoutes"}, "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": {"Ref": "EgressInternetGateway"}}},
        "EgressSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "Deliveries and test sends: nothing comes in; out to any address",
            "VpcId": {"Ref": "EgressVpc"},
            "SecurityGroupEgress": [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "webhook endpoints"}],
            "Tags": _tags("egress")}},
        "EgressPrivateAcl": {"Type": "AWS::EC2::NetworkAcl", "Properties": {
            "VpcId": {"Ref": "EgressVpc"}, "Tags": _tags("egress-private")}},
        "EgressAclInbound": {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
            "NetworkAclId": {"Ref": "EgressPrivateAcl"}, "RuleNumber": 100, "Protocol": -1, "RuleAction": "allow",
            "Egress": False, "CidrBlock": "0.0.0.0/0"}},
        "EgressAclOutbound": {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
            "NetworkAclId": {"Ref": "EgressPrivateAcl"}, "RuleNumber": 1000, "Protocol": -1, "RuleAction": "allow",
            "Egress": True, "CidrBlock": "0.0.0.0/0"}},
        "EgressDynamoDBEndpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
            "VpcId": {"Ref": "EgressVpc"}, "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.dynamodb"},
            "RouteTableIds": [{"Ref": f"EgressPrivateRoutes{zone}"} for zone in range(zones)]}},
    }
    for number, cidr in enumerate(PRIVATE_RANGES):
        r[f"EgressAclRefuses{number}"] = {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
            "NetworkAclId": {"Ref": "EgressPrivateAcl"}, "RuleNumber": 100 + 10 * number, "Protocol": -1,
            "RuleAction": "deny", "Egress": True, "CidrBlock": cidr}}
    for zone in range(zones):
        where = {"Fn::Select": [zone, {"Fn::GetAZs": ""}]}
        r.update({
            f"EgressPublicSubnet{zone}": {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": {"Ref": "EgressVpc"}, "CidrBlock": public_subnet(zone), "AvailabilityZone": where,
                "Tags": _tags(f"egress-public-{zone}")}},
            f"EgressPublicSubnetRoutes{zone}": {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
                "SubnetId": {"Ref": f"EgressPublicSubnet{zone}"}, "RouteTableId": {"Ref": "EgressPublicRoutes"}}},
            f"EgressAddress{zone}": {"Type": "AWS::EC2::EIP", "DependsOn": "EgressGatewayAttachment", "Properties": {
                "Domain": "vpc", "Tags": _tags(f"egress-{zone}")}},
            f"EgressNatGateway{zone}": {"Type": "AWS::EC2::NatGateway", "Properties": {
                "AllocationId": {"Fn::GetAtt": [f"EgressAddress{zone}", "AllocationId"]},
                "SubnetId": {"Ref": f"EgressPublicSubnet{zone}"}, "Tags": _tags(f"egress-{zone}")}},
            f"EgressPrivateSubnet{zone}": {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": {"Ref": "EgressVpc"}, "CidrBlock": private_subnet(zone), "AvailabilityZone": where,
                "Tags": _tags(f"egress-private-{zone}")}},
            f"EgressPrivateRoutes{zone}": {"Type": "AWS::EC2::RouteTable", "Properties": {
                "VpcId": {"Ref": "EgressVpc"}, "Tags": _tags(f"egress-private-{zone}")}},
            f"EgressPrivateDefaultRoute{zone}": {"Type": "AWS::EC2::Route", "Properties": {
                "RouteTableId": {"Ref": f"EgressPrivateRoutes{zone}"}, "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": {"Ref": f"EgressNatGateway{zone}"}}},
            f"EgressPrivateSubnetRoutes{zone}": {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
                "SubnetId": {"Ref": f"EgressPrivateSubnet{zone}"}, "RouteTableId": {"Ref": f"EgressPrivateRoutes{zone}"}}},
            f"EgressPrivateSubnetAcl{zone}": {"Type": "AWS::EC2::SubnetNetworkAclAssociation", "Properties": {
                "SubnetId": {"Ref": f"EgressPrivateSubnet{zone}"}, "NetworkAclId": {"Ref": "EgressPrivateAcl"}}},
        })
    return r


def vpc_config(zones=ZONES):
    """A function's ``VpcConfig`` in the VPC's private subnets."""
    return {"SecurityGroupIds": [{"Ref": "EgressSecurityGroup"}],
            "SubnetIds": [{"Ref": f"EgressPrivateSubnet{zone}"} for zone in range(zones)]}


def outputs(zones=ZONES):
    return {"EgressAddresses": {
        "Description": "The addresses every delivery and test send comes from: give them to receivers to allow",
        "Value": {"Fn::Join": [",", [{"Ref": f"EgressAddress{zone}"} for zone in range(zones)]]}}}
