package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/bolt"
)

// storeSize returns the number of keys in the (stopped) server's store and
// the size of its file.
func storeSize(t *testing.T, dir string) (keys int, bytes int64) {
	t.Helper()
	path := filepath.Join(dir, "palisade.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.List(context.Background(), "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(page.KVs), info.Size()
}

// TestInventedRegionsCannotGrowTheStore: a server serves the regions of
// --regions, DescribeRegions lists exactly those, and read-only requests
// cannot make its store grow: a request signed for any other region is
// refused as AWS refuses a credential scoped to a region it does not serve,
// and the reads of the served regions (with unknown owners in filters,
// forged pagination tokens, unknown IDs) store nothing beyond the default
// VPC each account gets once per region. The store of the attacked server
// ends up holding exactly the keys of a server that answered one read per
// served region.
func TestInventedRegionsCannotGrowTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	served := []string{"eu-west-1", "us-east-1"}
	flag := "--regions=" + strings.Join(served, ",")

	refDir := t.TempDir()
	ref := startServer(t, refDir, flag)
	refKey := ref.adminKey()
	for _, r := range served {
		if _, err := ref.ec2In(refKey, r).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
			t.Fatal(err)
		}
	}
	ref.stop()
	boundKeys, boundBytes := storeSize(t, refDir)

	dir := t.TempDir()
	s := startServer(t, dir, flag)
	key := s.adminKey()
	regions, err := s.ec2In(key, "us-east-1").DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range regions.Regions {
		names = append(names, aws.ToString(r.RegionName))
	}
	if !slices.Equal(names, served) {
		t.Fatalf("DescribeRegions lists %v, serves %v", names, served)
	}

	const invented, perServed = 400, 100
	var wg sync.WaitGroup
	errs := make(chan error, invented+len(served)*perServed)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < invented; i += 4 {
				region := fmt.Sprintf("xx-invented-%d", i)
				if i%2 == 1 {
					region = []string{"us-east-3", "eu-west-9", "us-gov-west-1", "cn-north-1"}[i/2%4] + fmt.Sprint(i)
				}
				_, err := s.ec2In(key, region).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
				if !isCode(err, "SignatureDoesNotMatch") || !strings.Contains(err.Error(), "Credential should be scoped to a valid region, not '"+region+"'.") {
					errs <- fmt.Errorf("%s: %v", region, err)
				}
			}
		}()
	}
	for _, r := range served {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.ec2In(key, r)
			for i := range perServed {
				if err := readOnly(ctx, c, i); err != nil {
					errs <- fmt.Errorf("%s: %v", r, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s.stop()
	keys, bytes := storeSize(t, dir)
	t.Logf("store after %d refused and %d read-only requests: %d keys, %d bytes (one read per served region: %d keys, %d bytes)",
		invented, len(served)*perServed, keys, bytes, boundKeys, boundBytes)
	if keys != boundKeys {
		t.Errorf("the store holds %d keys, want %d", keys, boundKeys)
	}
}

// readOnly makes the i-th of a series of read-only requests, each naming
// something that does not exist: an unknown owner, a forged pagination
// token, unknown IDs, a region that is not served. Only the expected
// answers pass.
func readOnly(ctx context.Context, c *ec2.Client, i int) error {
	owner := fmt.Sprintf("%012d", 100000000000+i)
	switch i % 5 {
	case 0:
		_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
			Filters: []types.Filter{{Name: aws.String("owner-id"), Values: []string{owner}}}})
		return err
	case 1:
		_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(5), NextToken: aws.String(fmt.Sprintf("forged-%d", i))})
		if !isCode(err, "InvalidParameterValue") {
			return fmt.Errorf("forged token: %v", err)
		}
	case 2:
		_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{fmt.Sprintf("sg-%017x", i)}})
		if !isCode(err, "InvalidGroup.NotFound") {
			return fmt.Errorf("unknown group: %v", err)
		}
	case 3:
		_, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{fmt.Sprintf("xx-region-%d", i)}})
		if !isCode(err, "InvalidParameterValue") {
			return fmt.Errorf("unknown region name: %v", err)
		}
	default:
		_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
			Filters: []types.Filter{{Name: aws.String("owner-id"), Values: []string{owner}}}})
		return err
	}
	return nil
}

// isCode reports whether err is an API error with code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
