// Command goclients measures rollguard's verdict routes with the orchestrators' own client
// code: Argo Rollouts' web metric provider (metricproviders/webmetric, which evaluates the
// template's conditions with utils/evaluate) and Flagger's webhook caller
// (pkg/controller.CallWebhook). The AnalysisTemplate and the Flagger webhooks are read from
// the YAML blocks of docs/orchestrators.md, so the documented configuration is what runs.
//
//	goclients -docs docs/orchestrators.md -base http://127.0.0.1:PORT -token T -rollouts a,b
//
// prints one JSON object per rollout: Argo's measurement phase and value, the template's
// limits, and for each Flagger hook whether CallWebhook returned no error ("pass").
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/argoproj/argo-rollouts/metricproviders/webmetric"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"github.com/fluxcd/flagger/pkg/controller"
	log "github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const docsHost = "http://rollguard-worker.rollguard.svc:8080"

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

type result struct {
	Rollout           string            `json:"rollout"`
	ArgoPhase         string            `json:"argo_phase"`
	ArgoValue         string            `json:"argo_value"`
	ArgoMessage       string            `json:"argo_message,omitempty"`
	FailureLimit      string            `json:"failure_limit"`
	InconclusiveLimit string            `json:"inconclusive_limit"`
	ConsecutiveErrors int32             `json:"consecutive_error_limit"`
	Flagger           map[string]string `json:"flagger"`
}

func main() {
	docs := flag.String("docs", "docs/orchestrators.md", "the Markdown file with the YAML")
	base := flag.String("base", "", "http://host:port that stands for the worker Service")
	token := flag.String("token", "", "verdict token")
	rollouts := flag.String("rollouts", "", "comma-separated rollout ids")
	flag.Parse()
	text, err := os.ReadFile(*docs)
	if err != nil {
		fail(err)
	}
	template, hooks := fromDocs(string(text))
	enc := json.NewEncoder(os.Stdout)
	for _, id := range strings.Split(*rollouts, ",") {
		out := result{Rollout: id, Flagger: map[string]string{}}
		metric := withArgs(template.Spec.Metrics[0], map[string]string{
			"rollout-id": id, "rollguard-token": *token,
		}, *base)
		out.FailureLimit = metric.FailureLimit.String()
		out.InconclusiveLimit = metric.InconclusiveLimit.String()
		if metric.ConsecutiveErrorLimit != nil {
			out.ConsecutiveErrors = int32(metric.ConsecutiveErrorLimit.IntValue())
		}
		parser, err := webmetric.NewWebMetricJsonParser(metric)
		if err != nil {
			fail(err)
		}
		client, err := webmetric.NewWebMetricHttpClient(metric)
		if err != nil {
			fail(err)
		}
		provider := webmetric.NewWebMetricProvider(*log.NewEntry(log.New()), client, parser)
		run := &v1alpha1.AnalysisRun{}
		m := provider.Run(run, metric)
		out.ArgoPhase, out.ArgoValue, out.ArgoMessage = string(m.Phase), m.Value, m.Message
		canary := flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"}}
		for _, hook := range hooks {
			h := hook
			meta := map[string]string{}
			for k, v := range *h.Metadata {
				meta[k] = v
			}
			meta["rollout_id"] = id
			meta["token"] = *token
			h.Metadata = &meta
			h.URL = strings.Replace(h.URL, docsHost, *base, 1)
			if err := controller.CallWebhook(canary, flaggerv1.CanaryPhaseProgressing, h); err != nil {
				out.Flagger[string(h.Type)] = "fail"
			} else {
				out.Flagger[string(h.Type)] = "pass"
			}
		}
		if err := enc.Encode(out); err != nil {
			fail(err)
		}
	}
}

// fromDocs returns the AnalysisTemplate and the Flagger webhooks of the documentation.
func fromDocs(text string) (v1alpha1.AnalysisTemplate, []flaggerv1.CanaryWebhook) {
	var template v1alpha1.AnalysisTemplate
	var hooks []flaggerv1.CanaryWebhook
	for _, m := range yamlBlock.FindAllStringSubmatch(text, -1) {
		block := []byte(m[1])
		var probe map[string]any
		if yaml.Unmarshal(block, &probe) != nil {
			continue
		}
		if probe["kind"] == "AnalysisTemplate" {
			if err := yaml.UnmarshalStrict(block, &template); err != nil {
				fail(fmt.Errorf("AnalysisTemplate in docs: %w", err))
			}
		}
		if _, ok := probe["analysis"]; ok {
			var spec struct {
				Analysis flaggerv1.CanaryAnalysis `json:"analysis"`
			}
			if err := yaml.UnmarshalStrict(block, &spec); err != nil {
				fail(fmt.Errorf("Flagger analysis in docs: %w", err))
			}
			hooks = spec.Analysis.Webhooks
		}
	}
	if len(template.Spec.Metrics) == 0 || len(hooks) == 0 {
		fail(fmt.Errorf("docs have no AnalysisTemplate metric or no Flagger webhooks"))
	}
	return template, hooks
}

// withArgs substitutes {{args.NAME}} as Argo does and points the URL at base.
func withArgs(metric v1alpha1.Metric, args map[string]string, base string) v1alpha1.Metric {
	sub := func(s string) string {
		for k, v := range args {
			s = strings.ReplaceAll(s, "{{args."+k+"}}", v)
		}
		return s
	}
	web := *metric.Provider.Web
	web.URL = strings.Replace(sub(web.URL), docsHost, base, 1)
	headers := make([]v1alpha1.WebMetricHeader, len(web.Headers))
	for i, h := range web.Headers {
		headers[i] = v1alpha1.WebMetricHeader{Key: h.Key, Value: sub(h.Value)}
	}
	web.Headers = headers
	metric.Provider.Web = &web
	return metric
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "goclients:", err)
	os.Exit(2)
}
