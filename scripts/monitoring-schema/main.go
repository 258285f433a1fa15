// Command monitoring-schema decodes prometheus-operator objects (PodMonitor, PrometheusRule)
// strictly into prometheus-operator's own Go API types: a field the API does not have (a
// misspelt `podMetricsEndpoints`, `honorLabels`, `sourceLabels`) or a value of the wrong type
// is an error, as the same objects through k8s-openapi types are for the other kinds (the
// operator's render tests). scripts/test-monitoring.sh runs it on deploy/monitoring/ and on
// the PodMonitor the operator renders.
//
//	monitoring-schema FILE...   (multi-document YAML; other kinds are skipped)
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

func check(doc []byte) (string, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return "", err
	}
	what := meta.Kind + " " + meta.Metadata.Name
	var obj any
	switch meta.Kind {
	case "PodMonitor":
		obj = &monitoringv1.PodMonitor{}
	case "PrometheusRule":
		obj = &monitoringv1.PrometheusRule{}
	case "ServiceMonitor":
		obj = &monitoringv1.ServiceMonitor{}
	default:
		return "", nil
	}
	if meta.APIVersion != "monitoring.coreos.com/v1" {
		return what, fmt.Errorf("apiVersion %q, want monitoring.coreos.com/v1", meta.APIVersion)
	}
	return what, yaml.UnmarshalStrict(doc, obj)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: monitoring-schema FILE...")
		os.Exit(2)
	}
	failed, checked := false, 0
	for _, f := range os.Args[1:] {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			if len(strings.TrimSpace(string(doc))) == 0 {
				continue
			}
			what, err := check(doc)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %s: %v\n", f, what, err)
				failed = true
			} else if what != "" {
				checked++
			}
		}
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("%d prometheus-operator objects match its API types\n", checked)
}
