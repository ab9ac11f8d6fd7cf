import { describe, expect, it } from "vitest";
import { makePod } from "../../test/support/pods";
import { PodCache } from "../cache/pod-cache";
import { PodIndex, type PodIndexSpec } from "../kinds/podindex";
import { PodIndexView } from "./view";
import { ViewSet } from "./view-set";

const podIndex = (name: string, spec: PodIndexSpec, generation = 1) =>
  Object.assign(new PodIndex(), { metadata: { name, generation }, spec });
const cache = new PodCache({ keepAnnotation: () => true });
const web = cache.upsert(
  makePod({ namespace: "apps", labels: { app: "web", team: "a" }, annotations: { owner: "x", secret: "y" } }),
)!;
const dns = cache.upsert(makePod({ namespace: "kube-system", labels: { "k8s-app": "dns" } }))!;

describe("PodIndexView", () => {
  it("selects by namespace and label selector", () => {
    const view = PodIndexView.fromResource(
      podIndex("a", { namespaces: ["apps"], podSelector: { matchLabels: { app: "web" } } }),
    );
    expect(view.selects(web)).toBe(true);
    expect(view.selects(dns)).toBe(false);
    expect(PodIndexView.fromResource(podIndex("all", {})).selects(dns)).toBe(true);
  });

  it("exposes every label and no annotation by default", () => {
    const view = PodIndexView.fromResource(podIndex("a", {}));
    expect(view.labelsFor(web)).toEqual({ app: "web", team: "a" });
    expect(view.annotationsFor(web)).toEqual({});
  });

  it("exposes only the listed keys", () => {
    const view = PodIndexView.fromResource(
      podIndex("a", { expose: { labels: ["app", "missing"], annotations: ["owner"] } }),
    );
    expect(view.labelsFor(web)).toEqual({ app: "web" });
    expect(view.annotationsFor(web)).toEqual({ owner: "x" });
    expect(PodIndexView.fromResource(podIndex("none", { expose: { labels: [] } })).labelsFor(web)).toEqual({});
  });

  it("exposes only a pod's own keys, never inherited ones such as constructor", () => {
    const view = PodIndexView.fromResource(
      podIndex("a", { expose: { labels: ["constructor", "app"], annotations: ["toString"] } }),
    );
    expect(view.labelsFor(web)).toEqual({ app: "web" });
    expect(view.annotationsFor(web)).toEqual({});
  });
});

describe("ViewSet", () => {
  it("serves a pod only when some PodIndex selects it, and unions annotation keys", () => {
    const views = new ViewSet();
    views.set(
      PodIndexView.fromResource(podIndex("b-apps", { namespaces: ["apps"], expose: { annotations: ["owner"] } })),
    );
    views.set(
      PodIndexView.fromResource(
        podIndex("a-all", { podSelector: { matchLabels: { team: "a" } }, expose: { annotations: ["team"] } }),
      ),
    );
    expect(views.servedBy(web).map(v => v.name)).toEqual(["a-all", "b-apps"]);
    expect(views.isServed(dns)).toBe(false);
    expect([...views.annotationKeys()].sort()).toEqual(["owner", "team"]);
    expect(views.delete("b-apps")).toBe(true);
    expect(views.delete("b-apps")).toBe(false);
    expect([...views.annotationKeys()]).toEqual(["team"]);
    expect(views.list().map(v => v.name)).toEqual(["a-all"]);
  });
});
