package main

import (
	"net/url"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"palisade.dev/palisade/internal/client"
)

// clientFlags are the flags of every subcommand that talks to a running
// server, named and resolved as the aws CLI's.
type clientFlags struct {
	opts   client.Options
	output string
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.opts.EndpointURL, "endpoint-url", "",
		"URL of palisade serve (default $AWS_ENDPOINT_URL, the profile's endpoint_url, or "+client.DefaultEndpoint+")")
	fs.StringVar(&f.opts.Profile, "profile", "", "AWS profile of the credentials (default $AWS_PROFILE, or default)")
	fs.StringVar(&f.opts.Region, "region", "", "region to sign for (default $AWS_REGION, the profile's region, or "+client.DefaultRegion+")")
	fs.StringVar(&f.output, "output", "", "output format: json or table (default: json, and a table for listings)")
}

// connect checks the output format (def when --output is not given) and
// resolves the client.
func (f *clientFlags) connect(cmd *cobra.Command, def client.Format) (*client.Client, client.Format, error) {
	out := f.output
	if out == "" {
		out = string(def)
	}
	format, err := client.ParseFormat(out)
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cmd.Context(), f.opts)
	return c, format, err
}

func newAccountCmd() *cobra.Command {
	var flags clientFlags
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage accounts (admin credentials required)",
	}
	flags.register(cmd.PersistentFlags())
	cmd.AddCommand(newAccountCreateCmd(&flags))
	return cmd
}

// createdAccount is what `account create` prints.
type createdAccount struct {
	AccountID       string `json:"AccountId"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

func newAccountCreateCmd(flags *clientFlags) *cobra.Command {
	var accountID, keyID, secret string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an account with an access key, and print its credentials",
		Long: `Create an account on the running server (PalisadeCreateAccount, signed with
the caller's credentials, which must be an admin's) and print its ID and
access key as JSON. Without --access-key-id and --secret-access-key the key
is random; without --account-id so is the 12-digit account ID.`,
		Example: `  palisade account create bob
  palisade account create moto --account-id 123456789012 --access-key-id FOOBARKEY --secret-access-key FOOBARSECRET`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, format, err := flags.connect(cmd, client.JSON)
			if err != nil {
				return err
			}
			params := url.Values{"Name": {args[0]}}
			setIf(params, "AccountId", accountID)
			setIf(params, "AccessKeyId", keyID)
			setIf(params, "SecretAccessKey", secret)
			var resp struct {
				AccountID       string `xml:"accountId"`
				AccessKeyID     string `xml:"accessKeyId"`
				SecretAccessKey string `xml:"secretAccessKey"`
			}
			if err := c.Call(cmd.Context(), "PalisadeCreateAccount", params, &resp); err != nil {
				return err
			}
			return client.Print(cmd.OutOrStdout(), format, "PalisadeCreateAccount",
				createdAccount{AccountID: resp.AccountID, AccessKeyID: resp.AccessKeyID, SecretAccessKey: resp.SecretAccessKey})
		},
	}
	cmd.Flags().StringVar(&accountID, "account-id", "", "12-digit account ID (default random)")
	cmd.Flags().StringVar(&keyID, "access-key-id", "", "access key ID (with --secret-access-key; default random)")
	cmd.Flags().StringVar(&secret, "secret-access-key", "", "secret access key (with --access-key-id)")
	cmd.MarkFlagsRequiredTogether("access-key-id", "secret-access-key")
	return cmd
}

func setIf(v url.Values, name, value string) {
	if value != "" {
		v.Set(name, value)
	}
}
