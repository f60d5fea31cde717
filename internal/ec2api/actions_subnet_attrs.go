package ec2api

import "palisade.dev/palisade/internal/service"

// This file serves CreateDefaultSubnet and ModifySubnetAttribute
// (registered in vpcActions).

type zoneInput struct{ Zone, ZoneID string }

func parseCreateDefaultSubnet(p *Params) (zoneInput, error) {
	return zoneInput{p.String("AvailabilityZone"), p.String("AvailabilityZoneId")}, nil
}

func runCreateDefaultSubnet(c *Call, in zoneInput) (any, error) {
	sn, err := c.Service.CreateDefaultSubnet(c.Ctx, c.Caller, in.Zone, in.ZoneID)
	if err != nil {
		return nil, err
	}
	r, err := newSubnetRenderer(c)
	if err != nil {
		return nil, err
	}
	return subnetResponse{r.subnet(sn)}, nil
}

func parseModifySubnetAttribute(p *Params) (service.ModifySubnetAttributeInput, error) {
	in := service.ModifySubnetAttributeInput{SubnetID: p.String("SubnetId")}
	var err error
	if in.AssignIpv6AddressOnCreation, err = p.OptBool("AssignIpv6AddressOnCreation.Value"); err != nil {
		return in, err
	}
	in.MapPublicIPOnLaunch, err = p.OptBool("MapPublicIpOnLaunch.Value")
	return in, err
}

func runModifySubnetAttribute(c *Call, in service.ModifySubnetAttributeInput) (any, error) {
	return returnTrue, c.Service.ModifySubnetAttribute(c.Ctx, c.Caller, in)
}
