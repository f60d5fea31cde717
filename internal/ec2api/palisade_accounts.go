package ec2api

import (
	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
)

// Palisade's own actions, served on the EC2 endpoint like EC2's and signed
// the same way: there is no unauthenticated side door. Their names start
// with "Palisade" so that they can never collide with an EC2 action.
//
// PalisadeCreateAccount (admin accounts only) takes Name, and optionally
// AccountId (12 digits) and AccessKeyId with SecretAccessKey (both or
// neither; random when absent), and answers
//
//	<PalisadeCreateAccountResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
//	    <requestId>…</requestId>
//	    <accountId>…</accountId>
//	    <accountName>…</accountName>
//	    <accessKeyId>…</accessKeyId>
//	    <secretAccessKey>…</secretAccessKey>
//	</PalisadeCreateAccountResponse>
//
// A taken account ID is InvalidAccountID.Duplicate, a taken access key ID
// InvalidAccessKeyID.Duplicate; a caller that is not an admin gets
// UnauthorizedOperation (403) whatever the parameters.

// createAccountResult is the body of PalisadeCreateAccountResponse.
type createAccountResult struct {
	AccountID       string `xml:"accountId"`
	AccountName     string `xml:"accountName"`
	AccessKeyID     string `xml:"accessKeyId"`
	SecretAccessKey string `xml:"secretAccessKey"`
}

// PalisadeAccountActions returns Palisade's account actions over accounts, for
// Server.Handle.
func PalisadeAccountActions(accounts *auth.Accounts) Table {
	create := Action(parseCreateAccount, func(c *Call, in auth.NewAccount) (any, error) {
		acct, key, err := accounts.Create(c.Ctx, in)
		if err != nil {
			return nil, err
		}
		return createAccountResult{AccountID: string(acct.ID), AccountName: acct.Name,
			AccessKeyID: key.ID, SecretAccessKey: key.Secret}, nil
	})
	create.DryRun = false
	create.Authorize = adminOnly(accounts)
	return Table{"PalisadeCreateAccount": create}
}

func parseCreateAccount(p *Params) (auth.NewAccount, error) {
	name, err := p.Required("Name")
	if err != nil {
		return auth.NewAccount{}, err
	}
	return auth.NewAccount{
		Name:        name,
		ID:          model.AccountID(p.String("AccountId")),
		AccessKeyID: p.String("AccessKeyId"),
		Secret:      p.String("SecretAccessKey"),
	}, nil
}

// adminOnly lets only admin accounts through.
func adminOnly(accounts *auth.Accounts) func(c *Call) error {
	return func(c *Call) error {
		if accounts.IsAdmin(c.Caller.Account) {
			return nil
		}
		return model.Errorf(model.CodeUnauthorizedOperation,
			"You are not authorized to perform this operation: %s is for admin accounts only.", c.Action)
	}
}
