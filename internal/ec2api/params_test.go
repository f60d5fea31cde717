package ec2api

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

func mustForm(t testing.TB, raw string) *Params {
	t.Helper()
	p, err := ParseForm(raw)
	if err != nil {
		t.Fatalf("ParseForm(%q): %v", raw, err)
	}
	return p
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := model.CodeOf(err); got != code {
		t.Fatalf("got error %v, want code %s", err, code)
	}
}

func TestScalars(t *testing.T) {
	p := mustForm(t, "GroupName=web+tier&GroupDescription=a%26b&Empty=&FromPort=-1&ToPort=65535&DryRun=TRUE&Flag=false")
	if v := p.String("GroupName"); v != "web tier" {
		t.Errorf("GroupName = %q", v)
	}
	if v, ok := p.OptString("Empty"); !ok || v != "" {
		t.Errorf("Empty = %q, %v", v, ok)
	}
	if _, ok := p.OptString("VpcId"); ok {
		t.Error("VpcId present")
	}
	if v, err := p.Required("GroupDescription"); err != nil || v != "a&b" {
		t.Errorf("GroupDescription = %q, %v", v, err)
	}
	from, err := p.OptInt32("FromPort")
	if err != nil || from == nil || *from != -1 {
		t.Errorf("FromPort = %v, %v", from, err)
	}
	if to, _ := p.OptInt32("ToPort"); to == nil || *to != 65535 {
		t.Errorf("ToPort = %v", to)
	}
	if v, err := p.OptInt32("Absent"); v != nil || err != nil {
		t.Errorf("Absent = %v, %v", v, err)
	}
	if v, err := p.Bool("DryRun"); !v || err != nil {
		t.Errorf("DryRun = %v, %v", v, err)
	}
	if v, err := p.OptBool("Flag"); err != nil || v == nil || *v {
		t.Errorf("Flag = %v, %v", v, err)
	}
	if v, err := p.Bool("Absent"); v || err != nil {
		t.Errorf("absent bool = %v, %v", v, err)
	}
	if u := p.Unread(); len(u) != 0 {
		t.Errorf("unread %v", u)
	}
}

func TestValueErrors(t *testing.T) {
	p := mustForm(t, "FromPort=x&ToPort=2147483648&DryRun=yes&Port=+&IpPermissions.1.FromPort=1.5")
	cases := []struct {
		get  func() error
		want string
	}{
		{func() error { _, err := p.OptInt32("FromPort"); return err },
			"Value (x) for parameter FromPort is invalid. Expecting a 32-bit integer."},
		{func() error { _, err := p.OptInt32("ToPort"); return err },
			"Value (2147483648) for parameter ToPort is invalid. Expecting a 32-bit integer."},
		{func() error { _, err := p.Bool("DryRun"); return err },
			"Value (yes) for parameter DryRun is invalid. Expecting true or false."},
		{func() error {
			perms, _ := p.List("IpPermissions")
			_, err := perms[0].OptInt32("FromPort")
			return err
		}, "Value (1.5) for parameter IpPermissions.1.FromPort is invalid. Expecting a 32-bit integer."},
		{func() error { _, err := p.Required("GroupName"); return err },
			"The request must contain the parameter GroupName"},
	}
	for _, c := range cases {
		err := c.get()
		e, ok := err.(*model.Error)
		if !ok || e.Message != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	_, err := p.Required("GroupName")
	wantCode(t, err, model.CodeMissingParameter)
	_, err = p.OptInt32("FromPort")
	wantCode(t, err, model.CodeInvalidParameterValue)
}

func TestStringsOrderGapsAndOddIndexes(t *testing.T) {
	p := mustForm(t, "GroupId.10=j&GroupId.2=b&GroupId.1=a&GroupId.4=a&GroupId.0=zero&GroupId.01=lead&GroupId.x=x&GroupId=plain&GroupId.3.Sub=s")
	got, err := p.Strings("GroupId")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "a", "j"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Strings = %q, want %q", got, want)
	}
	want := []string{"GroupId.0", "GroupId.01", "GroupId.x", "GroupId", "GroupId.3.Sub"}
	if u := p.Unread(); !reflect.DeepEqual(u, want) {
		t.Fatalf("Unread = %q, want %q", u, want)
	}
	if got, err := p.Strings("SecurityGroupId"); got != nil || err != nil {
		t.Fatalf("absent list = %q, %v", got, err)
	}
}

func TestIndexBounds(t *testing.T) {
	p := mustForm(t, "GroupId.10000=ok")
	if got, err := p.Strings("GroupId"); err != nil || len(got) != 1 {
		t.Fatalf("%q, %v", got, err)
	}
	for _, raw := range []string{
		"GroupId.10001=x",
		"GroupId.1=a&GroupId.99999999999999999999999999=x",
		"IpPermissions.1.IpRanges.4294967297.CidrIp=x",
	} {
		p := mustForm(t, raw)
		_, err1 := p.Strings("GroupId")
		perms, err2 := p.List("IpPermissions")
		err := err1
		if err == nil && err2 == nil && len(perms) == 1 {
			_, err = perms[0].List("IpRanges")
		}
		if err == nil {
			err = err2
		}
		wantCode(t, err, model.CodeInvalidParameterValue)
		if !strings.Contains(err.Error(), "list indexes run from 1 to 10000") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestNestedLists(t *testing.T) {
	raw := strings.Join([]string{
		"IpPermissions.1.IpProtocol=tcp", "IpPermissions.1.FromPort=22", "IpPermissions.1.ToPort=22",
		"IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8", "IpPermissions.1.IpRanges.1.Description=ssh",
		"IpPermissions.1.IpRanges.2.CidrIp=192.0.2.0%2F24",
		"IpPermissions.2.IpProtocol=-1", "IpPermissions.2.Groups.1.GroupId=sg-1",
		"Filter.1.Name=group-name", "Filter.1.Value.1=web", "Filter.1.Value.2=db",
		"TagSpecification.1.ResourceType=security-group", "TagSpecification.1.Tag.1.Key=Name", "TagSpecification.1.Tag.1.Value=web",
	}, "&")
	p := mustForm(t, raw)
	perms, err := p.List("IpPermissions")
	if err != nil || len(perms) != 2 {
		t.Fatalf("%d perms, %v", len(perms), err)
	}
	if perms[0].String("IpProtocol") != "tcp" || perms[1].String("IpProtocol") != "-1" {
		t.Error("protocols")
	}
	perms[0].OptInt32("FromPort")
	perms[0].OptInt32("ToPort")
	ranges, _ := perms[0].List("IpRanges")
	if len(ranges) != 2 || ranges[0].String("CidrIp") != "10.0.0.0/8" || ranges[1].String("CidrIp") != "192.0.2.0/24" {
		t.Fatalf("ranges wrong")
	}
	if ranges[0].String("Description") != "ssh" || ranges[0].Name("CidrIp") != "IpPermissions.1.IpRanges.1.CidrIp" {
		t.Error("description or name")
	}
	groups, _ := perms[1].List("Groups")
	if len(groups) != 1 || groups[0].String("GroupId") != "sg-1" {
		t.Error("groups")
	}
	filters, _ := p.List("Filter")
	values, _ := filters[0].Strings("Value")
	if filters[0].String("Name") != "group-name" || !reflect.DeepEqual(values, []string{"web", "db"}) {
		t.Errorf("filter %q", values)
	}
	specs, _ := p.List("TagSpecification")
	tags, _ := specs[0].List("Tag")
	if specs[0].String("ResourceType") != "security-group" || tags[0].String("Key") != "Name" || tags[0].String("Value") != "web" {
		t.Error("tags")
	}
	if err := p.RejectUnread(); err != nil {
		t.Fatalf("everything was read, got %v", err)
	}
}

func TestRejectUnread(t *testing.T) {
	p := mustForm(t, "Action=X&GroupName=a&Description=d&IpPermissions.1.Bogus=1")
	p.String("Action")
	p.String("GroupName")
	err := p.RejectUnread()
	wantCode(t, err, model.CodeUnknownParameter)
	if err.(*model.Error).Message != "The parameter Description is not recognized" {
		t.Fatalf("message %q", err.(*model.Error).Message)
	}
	if !p.Has("IpPermissions") || p.Has("Groups") {
		t.Error("Has")
	}
	if u := p.Unread(); !reflect.DeepEqual(u, []string{"Description", "IpPermissions.1.Bogus"}) {
		t.Errorf("Unread = %q", u)
	}
}

func TestParseFormErrors(t *testing.T) {
	for _, raw := range []string{
		"GroupName=a&GroupName=b",
		"GroupName=a&Group%4Eame=b", // the same name after decoding
		"GroupName=%zz",
		"Group%=x",
	} {
		_, err := ParseForm(raw)
		wantCode(t, err, model.CodeInvalidParameterValue)
	}
	var b strings.Builder
	for i := 0; i <= MaxParams; i++ {
		b.WriteString("a")
		b.WriteString(strings.Repeat("b", i%7))
		b.WriteString(".")
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteString("=&")
	}
	_, err := ParseForm(b.String())
	wantCode(t, err, model.CodeInvalidParameterValue)
}

func TestParseFormTolerates(t *testing.T) {
	p := mustForm(t, "&&A=1&&B&C=x=y&")
	if p.String("A") != "1" || p.String("C") != "x=y" {
		t.Error("values")
	}
	if v, ok := p.OptString("B"); !ok || v != "" {
		t.Error("bare name")
	}
}

// FuzzParseForm: decoding never panics, fails only with a *model.Error, and
// reading everything back through the accessors returns no more elements
// than the request has parameters.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-1&GroupId.2=sg-2",
		"IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8&IpPermissions.1.FromPort=22&IpPermissions.2.Groups.1.GroupId=sg-1",
		"Filter.1.Name=a&Filter.1.Value.1=b&Filter.1.Value.99999=c&Filter.10001.Name=d",
		"a.b.c.d.e.f.g=1&a.b=2&a=3&.=4&..=5&a..b=6&%2E=7",
		"GroupId.01=x&GroupId.0=y&GroupId.-1=z&GroupId.1e3=w",
		"x=%zz", "x=%", "=", "&", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := ParseForm(raw)
		if err != nil {
			if _, ok := err.(*model.Error); !ok {
				t.Fatalf("error %v (%T) is not a *model.Error", err, err)
			}
			return
		}
		total := len(p.form.order)
		if n := walk(p, 0); n > total {
			t.Fatalf("read %d values from %d parameters", n, total)
		}
		if u := p.Unread(); len(u) > total {
			t.Fatalf("%d unread of %d", len(u), total)
		}
	})
}

// walk reads every name of the view with every accessor, recursing into
// lists, and returns how many values it got.
func walk(p *Params, depth int) int {
	if depth > 8 {
		return 0
	}
	n := 0
	for seg := range p.at.children {
		if _, ok := p.OptString(seg); ok {
			n++
		}
		p.OptInt32(seg)
		p.OptBool(seg)
		strs, _ := p.Strings(seg)
		n += len(strs)
		elems, _ := p.List(seg)
		for _, e := range elems {
			n += walk(e, depth+1)
		}
	}
	return n
}
