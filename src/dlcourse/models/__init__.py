"""dlcourse.models"""
