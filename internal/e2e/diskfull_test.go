package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"palisade.dev/palisade/internal/testutil"
)

// tinyDisk mounts a tmpfs of the given size on a new directory and returns
// it; it is unmounted when the test ends, failed or not.
func tinyDisk(t *testing.T, size string) string {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fill writes a file into dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// TestDiskFullIsRetryable: when the disk holding the store fills up, a
// write is answered 503 Unavailable, which SDKs retry, with a message that
// says why, rather than a bare InternalError; nothing is corrupted, reads
// go on, and writes work again once space is back, also after a restart.
func TestDiskFullIsRetryable(t *testing.T) {
	t.Parallel()
	data := filepath.Join(tinyDisk(t, "4m"), "palisade")
	s := startServer(t, data)
	client := s.ec2(s.adminKey())
	ctx := context.Background()
	create := func(name string) error {
		_, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("d")})
		return err
	}
	if err := create("before"); err != nil {
		t.Fatal(err)
	}

	filler := fill(t, filepath.Dir(data))
	var err error
	for i := 0; err == nil && i < 100; i++ { // the file may have free pages left
		err = create(fmt.Sprintf("full-%d", i))
	}
	var api smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &api) || api.ErrorCode() != "Unavailable" || !strings.Contains(api.ErrorMessage(), "space") ||
		!errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Fatalf("a write on a full disk: %v", err)
	}
	t.Logf("on a full disk: %v", err)
	if _, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{}); err != nil {
		t.Fatalf("a read on a full disk: %v", err)
	}
	env := append(profileEnv(t, data), "AWS_ENDPOINT_URL="+s.endpoint)
	// An account is smaller than a group: it may still fit in pages the
	// database file has free; the disk stays full, so one soon does not.
	stderr, code := "", 0
	for i := 0; code == 0 && i < 50; i++ {
		_, stderr, code = palisade(t, env, "account", "create", fmt.Sprintf("bob-%d", i))
	}
	if code == 0 || !strings.Contains(stderr, "Unavailable") || !strings.Contains(stderr, "out of space") {
		t.Fatalf("palisade account create on a full disk: exit %d\n%s", code, stderr)
	}

	os.Remove(filler)
	if err := create("after"); err != nil {
		t.Fatalf("once space is back: %v", err)
	}
	s.stop()
	s = startServer(t, data)
	out, err := s.ec2(s.adminKey()).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, g := range out.SecurityGroups {
		names[aws.ToString(g.GroupName)] = true
	}
	if !names["before"] || !names["after"] {
		t.Fatalf("after a restart: %v", names)
	}
	s.stop()
}
