package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// tagActions serves the tags of every taggable resource.
func tagActions() Table {
	return Table{
		"CreateTags":   Action(parseCreateTags, runCreateTags),
		"DeleteTags":   Action(parseDeleteTags, runDeleteTags),
		"DescribeTags": Action(parseDescribeTags, runDescribeTags),
	}
}

// createTagsInput is CreateTags' request: ResourceId.N and Tag.N.{Key,Value}.
type createTagsInput struct {
	ResourceIDs []string
	Tags        model.Tags
}

func parseCreateTags(p *Params) (createTagsInput, error) {
	ids, err := p.Strings("ResourceId")
	if err != nil {
		return createTagsInput{}, err
	}
	tags, err := readTags(p, "Tag")
	return createTagsInput{ids, tags}, err
}

func runCreateTags(c *Call, in createTagsInput) (any, error) {
	return returnTrue, c.Service.CreateTags(c.Ctx, c.Caller, in.ResourceIDs, in.Tags)
}

// deleteTagsInput is DeleteTags' request: ResourceId.N and Tag.N.{Key,Value},
// where a Value given, even empty, must match for the tag to go.
type deleteTagsInput struct {
	ResourceIDs []string
	Keys        []service.TagKey
}

func parseDeleteTags(p *Params) (deleteTagsInput, error) {
	ids, err := p.Strings("ResourceId")
	if err != nil {
		return deleteTagsInput{}, err
	}
	elems, err := p.List("Tag")
	in := deleteTagsInput{ResourceIDs: ids}
	for _, e := range elems {
		k := service.TagKey{Key: e.String("Key")}
		if v, ok := e.OptString("Value"); ok {
			k.Value = &v
		}
		in.Keys = append(in.Keys, k)
	}
	return in, err
}

func runDeleteTags(c *Call, in deleteTagsInput) (any, error) {
	return returnTrue, c.Service.DeleteTags(c.Ctx, c.Caller, in.ResourceIDs, in.Keys)
}

// describeTagsInput is DescribeTags' request.
type describeTagsInput struct {
	Filters []service.Filter
	Page    service.Page
}

func parseDescribeTags(p *Params) (describeTagsInput, error) {
	filters, page, err := readDescribe(p)
	return describeTagsInput{filters, page}, err
}

func runDescribeTags(c *Call, in describeTagsInput) (any, error) {
	tags, next, err := c.Service.DescribeTags(c.Ctx, c.Caller, in.Filters, in.Page)
	if err != nil {
		return nil, err
	}
	out := describeTagsXML{Tags: make(Set[tagDescriptionXML], len(tags)), NextToken: next}
	for i, t := range tags {
		out.Tags[i] = tagDescriptionXML(t)
	}
	return out, nil
}

type describeTagsXML struct {
	Tags      Set[tagDescriptionXML] `xml:"tagSet"`
	NextToken string                 `xml:"nextToken,omitempty"`
}

// tagDescriptionXML is one TagDescription; its fields are those of
// service.TagDescription, in order, so that one converts to the other.
type tagDescriptionXML struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}
