// Command image builds the linstor-db container image without a container daemon: an OCI image
// layout holding one image with one layer on scratch: the static binary at /linstor-db, /etc/passwd
// and /etc/group naming the non-root user it runs as, and a /tmp it may write. It uses
// go-containerregistry, the library behind crane and ko. The output is reproducible: every time in
// it is -created.
//
//	image -binary target/static/.../linstor-db -version 0.1.0 -revision SHA -created 2026-12-02T00:00:00Z -out DIR
//
// Load it with `skopeo copy oci:DIR:linstor-db:VERSION docker-daemon:…`, `podman load`, or push it
// with `crane push DIR REF`.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the image runs as: not root, and no login.
const (
	uid = 65532
	gid = 65532
)

func main() {
	binary := flag.String("binary", "", "the static linstor-db binary")
	version := flag.String("version", "", "the version (org.opencontainers.image.version, and the tag)")
	revision := flag.String("revision", "", "the source revision (org.opencontainers.image.revision)")
	source := flag.String("source", "", "the source repository URL (org.opencontainers.image.source)")
	created := flag.String("created", "", "creation time, RFC 3339 (every time in the image)")
	out := flag.String("out", "", "the OCI image layout directory to write (must not exist)")
	flag.Parse()
	if *binary == "" || *version == "" || *revision == "" || *created == "" || *out == "" {
		fail(fmt.Errorf("-binary, -version, -revision, -created and -out are required"))
	}
	when, err := time.Parse(time.RFC3339, *created)
	if err != nil {
		fail(fmt.Errorf("-created: %w", err))
	}
	if _, err := os.Stat(*out); err == nil {
		fail(fmt.Errorf("%s exists; remove it first", *out))
	}
	program, err := os.ReadFile(*binary)
	if err != nil {
		fail(err)
	}
	layerTar, err := rootFS(program, when)
	if err != nil {
		fail(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		fail(err)
	}
	image, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		fail(err)
	}
	config, err := image.ConfigFile()
	if err != nil {
		fail(err)
	}
	config = config.DeepCopy()
	config.Architecture = "amd64"
	config.OS = "linux"
	config.Created = v1.Time{Time: when}
	config.Config.Entrypoint = []string{"/linstor-db"}
	config.Config.User = fmt.Sprintf("%d:%d", uid, gid)
	config.Config.WorkingDir = "/tmp"
	config.Config.Env = []string{"PATH=/"}
	config.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "linstor-db",
		"org.opencontainers.image.description": "Back up, restore, migrate and verify the LINSTOR controller database (etcd, Kubernetes)",
		"org.opencontainers.image.version":     *version,
		"org.opencontainers.image.revision":    *revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     when.UTC().Format(time.RFC3339),
	}
	if *source != "" {
		config.Config.Labels["org.opencontainers.image.source"] = *source
	}
	image, err = mutate.ConfigFile(image, config)
	if err != nil {
		fail(err)
	}
	path, err := layout.Write(*out, empty.Index)
	if err != nil {
		fail(err)
	}
	ref := map[string]string{"org.opencontainers.image.ref.name": *version}
	if err := path.AppendImage(image, layout.WithAnnotations(ref)); err != nil {
		fail(err)
	}
	digest, err := image.Digest()
	if err != nil {
		fail(err)
	}
	fmt.Println(digest.String())
}

// rootFS is the image's one layer: the binary, the user's passwd and group entries, and /tmp.
func rootFS(program []byte, when time.Time) ([]byte, error) {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	entries := []struct {
		name string
		mode int64
		dir  bool
		data []byte
	}{
		{"etc/", 0o755, true, nil},
		{"etc/group", 0o644, false, []byte(fmt.Sprintf("linstor-db:x:%d:\n", gid))},
		{"etc/passwd", 0o644, false, []byte(fmt.Sprintf("linstor-db:x:%d:%d:linstor-db:/tmp:/sbin/nologin\n", uid, gid))},
		{"linstor-db", 0o755, false, program},
		{"tmp/", 0o1777, true, nil},
	}
	for _, e := range entries {
		header := &tar.Header{Name: e.name, Mode: e.mode, ModTime: when, Format: tar.FormatPAX}
		if e.dir {
			header.Typeflag = tar.TypeDir
		} else {
			header.Typeflag = tar.TypeReg
			header.Size = int64(len(e.data))
		}
		if err := w.WriteHeader(header); err != nil {
			return nil, err
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(2)
}
