package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"palisade.dev/palisade/internal/auth"
)

// The aws CLI files serve writes into the data directory, for the admin
// account made at first start.
const (
	credentialsFile = "credentials" // AWS shared-credentials format, mode 0600
	configFile      = "config"      // AWS config format, mode 0644
	profileName     = "palisade"
	profileRegion   = "us-east-1" // or, when it is not served, the first served region
)

// clientRegion is the region of the profile serve writes: us-east-1 when
// served, else the first of the served regions.
func clientRegion(served []string) string {
	if len(served) == 0 || slices.Contains(served, profileRegion) {
		return profileRegion
	}
	return served[0]
}

func credentialsText(key auth.AccessKey) string {
	return "[" + profileName + "]\n" +
		"aws_access_key_id = " + key.ID + "\n" +
		"aws_secret_access_key = " + key.Secret + "\n"
}

func configText(region string) string {
	return "[profile " + profileName + "]\nregion = " + region + "\n"
}

// writeClientFiles makes sure the data directory holds the admin's
// credentials and config files. An existing file is never touched, with one
// exception: on a fresh store (fresh is true) an existing credentials file
// names the keys of a database that is gone, so it is replaced. A missing
// credentials file is written again from the admin key in the store.
func writeClientFiles(dir string, key auth.AccessKey, fresh bool, region string, o owner, log *slog.Logger) error {
	creds := filepath.Join(dir, credentialsFile)
	existed, err := fileExists(creds)
	if err != nil {
		return err
	}
	switch {
	case fresh && existed:
		log.Warn("replacing the credentials file of an earlier database", "path", creds)
		fallthrough
	case !existed:
		if err := writeFileAtomic(creds, credentialsText(key), 0o600, o); err != nil {
			return err
		}
	}
	cfg := filepath.Join(dir, configFile)
	if ok, err := fileExists(cfg); err != nil {
		return err
	} else if !ok {
		if err := writeFileAtomic(cfg, configText(region), 0o644, o); err != nil {
			return err
		}
	}
	log.Info("admin credentials for the aws CLI", "credentials", creds, "config", cfg, "profile", profileName,
		"use", fmt.Sprintf("export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s AWS_PROFILE=%s", creds, cfg, profileName))
	return nil
}

func fileExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

// writeFileAtomic writes a complete file or none: a temporary file in the
// same directory, synced, given to o, then renamed over path.
func writeFileAtomic(path, content string, mode os.FileMode, o owner) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := o.chown(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
