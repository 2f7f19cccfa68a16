"""dlcourse.scratch"""
