package service

import (
	"fmt"
	"slices"

	"palisade.dev/palisade/internal/model"
)

// The commercial AWS regions: those every account has, and the opt-in
// ones. AWSRegions serves them all by default; an opt-in region is
// reported "opted-in" (every served region is enabled for every account).
var (
	defaultRegions = []string{
		"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
		"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1",
		"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	}
	optInRegions = []string{
		"af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
		"ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1",
		"me-south-1", "mx-central-1",
	}
)

// AWSRegions returns the commercial AWS regions, sorted: the regions a
// Service serves by default (Config.Regions).
func AWSRegions() []string {
	all := append(slices.Clone(defaultRegions), optInRegions...)
	slices.Sort(all)
	return all
}

// CheckRegions validates Config.Regions: at least one, each shaped like a
// region name, none twice.
func CheckRegions(regions []string) error {
	if len(regions) == 0 {
		return fmt.Errorf("regions: at least one region is required")
	}
	seen := make(map[string]bool, len(regions))
	for _, r := range regions {
		if !model.ValidRegion(r) {
			return fmt.Errorf("region %q: not a region name (lower-case words and a number, joined by '-', such as us-east-1)", r)
		}
		if seen[r] {
			return fmt.Errorf("region %q: listed twice", r)
		}
		seen[r] = true
	}
	return nil
}

// CheckRegion refuses a request signed for a region the service does not
// serve, as an AWS endpoint refuses a credential scoped to a region it does
// not serve (IAM, Route 53 and SES answer this for any region but their
// own): SignatureDoesNotMatch, "Credential should be scoped to a valid
// region, not '<region>'." The region is quoted as given, clipped to the
// length of a region name.
func (s *Service) CheckRegion(region string) error {
	if s.regions[region] {
		return nil
	}
	if len(region) > maxRegionEcho {
		region = region[:maxRegionEcho] + "..."
	}
	return model.Errorf(model.CodeSignatureDoesNotMatch, "Credential should be scoped to a valid region, not '%s'.", region)
}

// maxRegionEcho bounds how much of a refused region an error repeats.
const maxRegionEcho = 32

// Regions returns the served regions, sorted.
func (s *Service) Regions() []string {
	out := slices.Clone(s.cfg.Regions)
	slices.Sort(out)
	return out
}
