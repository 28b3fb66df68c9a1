package enum CaptureModule {}
